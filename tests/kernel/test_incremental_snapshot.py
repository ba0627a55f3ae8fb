"""Incremental snapshots: the Inventory reuses map infos between snapshots (they never
change) and reads only new maps, yet every snapshot equals a full fresh walk, while maps
and programs come and go. Also: a snapshot reads only the parts it is asked for."""

from __future__ import annotations

import random
import threading

import pytest

from devagent.bpf.handles import Fd
from devagent.bpf.maps import create_map
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.bpf.progs import load_program, return_imm
from devagent.model.inventory import Inventory
from devagent.model.snapshot import take_snapshot
from tests.conftest import require_kernel


def new_map(i: int) -> Fd:
    kind = random.choice(["Hash", "Array", "PerCPUHash", "LRUHash"])
    return create_map(MAP_TYPE_IDS[kind], 4, 8 * (1 + i % 3), 16 + i, name=f"inc_{i}")


def test_unchanged_maps_are_not_read_again_and_snapshots_equal_full_walks() -> None:
    require_kernel()
    random.seed(7)
    inventory = Inventory(max_age=0)
    live: dict[int, Fd] = {}
    try:
        for i in range(30):
            fd = new_map(i)
            live[map_info(fd).id] = fd
        seen: set[int] = set()
        gone: set[int] = set()
        for step in range(6):
            before = inventory.map_infos.reads
            snap = inventory.snapshot()
            full = take_snapshot("/sys/fs/bpf")
            ours = {i: m for i, m in snap.maps.items() if i in live}
            fresh = {i: m for i, m in full.maps.items() if i in live}
            assert ours == fresh and set(ours) == set(live), step
            walked = set(snap.map_ids)
            assert set(snap.maps) <= walked  # nothing served from the cache for a gone map
            assert not (set(snap.maps) & gone), step
            # Only maps this inventory had not seen were read (other processes' new maps
            # included); on the first snapshot, all of them.
            assert inventory.map_infos.reads - before == len(walked - seen), step
            seen = walked
            # churn: drop a third, make ten new ones
            for map_id in random.sample(sorted(live), len(live) // 3):
                live.pop(map_id).close()
                gone.add(map_id)
            for j in range(10):
                fd = new_map(100 * step + j)
                live[map_info(fd).id] = fd
    finally:
        for fd in live.values():
            fd.close()


def test_reads_of_unchanged_maps_are_counted_exactly() -> None:
    """With only our own churn between two snapshots of one inventory, the second reads
    exactly the maps created in between (other processes may add maps too: those count)."""
    require_kernel()
    inventory = Inventory(max_age=0)
    fds = [create_map(MAP_TYPE_IDS["Hash"], 4, 4, 8, name=f"inc_r{i}") for i in range(20)]
    try:
        first = inventory.snapshot()
        first_ids = set(first.maps)
        before = inventory.map_infos.reads
        extra = [create_map(MAP_TYPE_IDS["Hash"], 4, 4, 8, name=f"inc_x{i}") for i in range(5)]
        second = inventory.snapshot()
        new_ids = set(second.maps) - first_ids
        assert {map_info(fd).id for fd in extra} <= new_ids
        assert inventory.map_infos.reads - before == len(new_ids)
        for fd in extra:
            fd.close()
    finally:
        for fd in fds:
            fd.close()


def test_snapshots_stay_consistent_while_objects_churn() -> None:
    """A thread loads and unloads programs and maps as fast as it can; every snapshot's
    infos are for exactly the ids of its own walk, and every map info it serves equals a
    fresh kernel read of that map while it lives."""
    require_kernel()
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        held: list[Fd] = []
        try:
            i = 0
            while not stop.is_set():
                m = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name=f"churn_m{i % 50}")
                p = load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0, (m.fd,)),
                                 name=f"churn_p{i % 50}")  # fmt: skip
                held += [m, p]
                if len(held) > 40:
                    for fd in held[:10]:
                        fd.close()
                    del held[:10]
                i += 1
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            for fd in held:
                fd.close()

    inventory = Inventory(max_age=0)
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(40):
            snap = inventory.snapshot()
            assert set(snap.programs) | set(snap.program_errors) == set(snap.program_ids)
            assert set(snap.maps) | set(snap.map_errors) <= set(snap.map_ids)
            for map_id, info in list(snap.maps.items())[-20:]:
                try:
                    with Fd(_open_map(map_id)) as fd:
                        assert map_info(fd, map_id) == info
                except LookupError:
                    continue  # unloaded since: nothing to compare
    finally:
        stop.set()
        worker.join()
    assert not errors, errors


def _open_map(map_id: int) -> int:
    from devagent.bpf.errors import NotFound
    from devagent.bpf.handles import open_map

    try:
        fd = open_map(map_id)
    except NotFound:
        raise LookupError(map_id) from None
    raw = fd.fd
    fd.fd = -1  # handed over to the caller's Fd
    return raw


@pytest.mark.parametrize("part", ["program_ids", "map_ids"])
def test_a_snapshot_reads_only_what_it_is_asked(part: str) -> None:
    """Asking for ids walks ids only: no info is read (the map info cache stays empty)."""
    require_kernel()
    inventory = Inventory(max_age=0)
    snap = inventory.snapshot()
    assert inventory.walks == 0  # making a snapshot reads nothing
    ids = getattr(snap, part)
    assert isinstance(ids, list) and inventory.walks == 1
    assert inventory.map_infos.reads == 0
    snap.maps  # noqa: B018 (the read is the point)
    assert inventory.map_infos.reads == len(snap.maps) + len(snap.map_errors)
