"""The agent's BPF iterators (bpf.iter: programs, maps, walkers) against bpf(): every
program's counters and every map's id and kernel-kept entry count, read in one pass, must be
what OBJ_GET_INFO_BY_FD and a read of every entry say; snapshots built from them and kept
infos must equal full bpf() snapshots while objects come and go."""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Iterator
from contextlib import suppress

import pytest

from devagent.bpf.btf import parse_btf
from devagent.bpf.entry_counts import EntryCounter
from devagent.bpf.errors import BPFError, NotFound
from devagent.bpf.features import DEGRADED, probe_features
from devagent.bpf.handles import Fd, iter_map_ids
from devagent.bpf.iter import programs
from devagent.bpf.iter.frame import IteratorUnavailable
from devagent.bpf.iter.programs import ProgramIterator
from devagent.bpf.iter.walkers import VMLINUX_BTF, CounterSource, Walkers
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.objects import map_info, program_info
from devagent.bpf.progs import load_program, return_imm
from devagent.bpf.replay import replay
from devagent.bpf.run_counters import CounterReader
from devagent.model.inventory import Inventory
from devagent.model.map_fill import map_fill
from devagent.model.snapshot import take_snapshot
from tests.conftest import StatsHold, require_kernel

NO_PREALLOC, NO_COMMON_LRU = 1, 2


@pytest.fixture(scope="module")
def iterators() -> Iterator[Walkers]:
    require_kernel()
    walkers = Walkers()
    walkers.start()
    yield walkers
    walkers.close()


def loaded(walkers: Walkers, kind: str) -> bool:
    """Whether this kernel runs the iterator of `kind` ("programs", "maps"). Where it cannot
    (the map iterator needs Linux 6.6's bpf_map_sum_elem_count, the program iterator 5.19's
    bpf_map_lookup_percpu_elem, both the kernel's BTF), the agent must say why, in the same
    words as its feature table, and read nothing through it (callers walk with bpf()): that
    is asserted here, and the caller's check of the iterator itself has nothing to check."""
    if getattr(walkers, kind) is not None:
        assert kind not in walkers.problems
        return True
    problem = walkers.problems[kind]
    row = "program_iterator" if kind == "programs" else "map_iterator"
    feature = next(f for f in probe_features() if f.name == row)
    assert feature.status == DEGRADED and problem in feature.detail, (problem, feature)
    assert (walkers.read_programs() if kind == "programs" else walkers.read_maps()) is None
    return False


def socket_filter(name: str, *maps: Fd) -> Fd:
    code = return_imm(0, tuple(m.fd for m in maps))
    return load_program(PROG_TYPE_IDS["SocketFilter"], code, name=name)


def test_program_counters_equal_bpf_info(iterators: Walkers, stats_enabled: StatsHold) -> None:
    """Programs that ran different numbers of times: the iterator's run_cnt, run_time_ns and
    map count are OBJ_GET_INFO_BY_FD's, for every one of them."""
    if not loaded(iterators, "programs"):
        return
    used = [create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name=f"iter_m{i}") for i in range(3)]
    progs = [socket_filter(f"iter_p{i}", *used[:i]) for i in range(4)]
    try:
        for runs, prog in enumerate(progs, start=1):
            replay(program_info(prog).id, bytes(64), repeat=runs * 7)
        reading = iterators.read_programs()
        assert reading is not None
        got = {
            i: (n, t, m)
            for i, n, t, m in zip(reading.ids, reading.run_count, reading.run_time_ns,
                                  reading.map_counts, strict=True)
        }  # fmt: skip
        for runs, prog in enumerate(progs, start=1):
            info = program_info(prog)
            assert info.run_count == runs * 7 and info.run_time_ns > 0
            assert got[info.id] == (info.run_count, info.run_time_ns, len(info.map_ids))
        assert list(reading.ids) == sorted(reading.ids)
        bpf_ids = set(CounterReader().read().ids)
        assert set(reading.ids) == bpf_ids  # the iterator's own program included
    finally:
        for fd in progs + used:
            fd.close()


def test_counter_source_uses_the_iterator(iterators: Walkers, stats_enabled: StatsHold) -> None:
    """Through the iterator where it is loaded, through bpf() where it is not: the same
    counters either way."""
    loaded(iterators, "programs")
    prog = socket_filter("iter_src")
    try:
        replay(program_info(prog).id, bytes(64), repeat=5)
        with_iterator = CounterSource(iterators).read()
        by_bpf = CounterReader().read()
        prog_id = program_info(prog).id
        at = list(with_iterator.ids).index(prog_id)
        assert with_iterator.run_count[at] == 5
        assert set(with_iterator.ids) == set(by_bpf.ids)
    finally:
        prog.close()


def test_a_wrong_layout_is_refused_at_load(
    iterators: Walkers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check against bpf() catches a kernel whose structs are not where the BTF says:
    with the program id read from the wrong place, the iterator is not used."""
    if not loaded(iterators, "programs"):
        return
    with open(VMLINUX_BTF, "rb") as f:
        btf = parse_btf(f.read())
    layout = programs.layout_from_btf(btf)
    wrong = dataclasses.replace(layout, aux_id=layout.aux_id + 4)
    monkeypatch.setattr(programs, "layout_from_btf", lambda _btf: wrong)
    with pytest.raises(IteratorUnavailable, match=r"missed program|read program"):
        ProgramIterator.open(btf)


@pytest.mark.parametrize(
    ("map_type", "flags"),
    [("Hash", 0), ("Hash", NO_PREALLOC), ("PerCPUHash", 0), ("PerCPUHash", NO_PREALLOC),
     ("LRUHash", 0), ("LRUHash", NO_COMMON_LRU), ("LRUCPUHash", 0)],
)  # fmt: skip
def test_kernel_entry_counts_equal_a_read_of_every_entry(
    iterators: Walkers, map_type: str, flags: int
) -> None:
    """Filled past max_entries (LRU maps evict, others refuse), then some deleted: the count
    the kernel keeps is the number of entries a read finds."""
    if not loaded(iterators, "maps"):
        return
    fd = create_map(MAP_TYPE_IDS[map_type], 4, 8, 64, name="iter_count", flags=flags)
    try:
        handle = MapHandle(fd, map_info(fd))
        value = bytes(8 * handle.ncpus)
        for key in range(100):
            try:
                handle.update(struct.pack("<I", key), value)
            except BPFError:  # a full hash that does not evict refuses (E2BIG)
                break
        for key in range(70, 100, 3):
            with suppress(NotFound):  # evicted already
                handle.delete(struct.pack("<I", key))
        reading = iterators.read_maps()
        assert reading is not None
        info = map_info(fd)
        assert reading.kernel_counts()[info.id] == EntryCounter().count(info) > 0
    finally:
        fd.close()


def test_map_reading_has_every_map_and_counts_only_hash_maps(iterators: Walkers) -> None:
    if not loaded(iterators, "maps"):
        return
    inner = create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name="iter_inner")
    outer = create_map(MAP_TYPE_IDS["HashOfMaps"], 4, 4, 8, name="iter_outer",
                       inner_map_fd=inner.fd)  # fmt: skip
    trie = create_map(MAP_TYPE_IDS["LPMTrie"], 8, 8, 8, name="iter_trie", flags=NO_PREALLOC)
    try:
        MapHandle(outer, map_info(outer)).update(struct.pack("<I", 3), struct.pack("<I", inner.fd))
        MapHandle(trie, map_info(trie)).update(struct.pack("<II", 32, 1), bytes(8))
        reading = iterators.read_maps()
        assert reading is not None
        counts = reading.kernel_counts()
        assert counts[map_info(outer).id] == 1
        assert map_info(inner).id not in counts and map_info(trie).id not in counts
        assert list(reading.ids) == [m.id for m in take_snapshot("/sys/fs/bpf").maps.values()]
    finally:
        for fd in (trie, outer, inner):
            fd.close()


def without_moving_fields(infos: dict[int, object]) -> dict[int, object]:
    """Infos with the fields that differ between two reads of the same object cleared: run
    counters, and the wall-clock load time (computed from a clock offset per read)."""
    return {
        i: p._replace(run_time_ns=0, run_count=0, recursion_misses=0, loaded_at_ns=0)  # type: ignore[attr-defined]
        for i, p in infos.items()
    }


def wait_until_gone(map_ids: set[int], close: Fd, timeout: float = 5.0) -> None:
    """Close a program's fd and wait until the maps only it held are gone: the kernel drops
    a program's maps in deferred work after the program itself, so without the wait a map
    can vanish between two snapshots the test compares (seen in CI: its kernel count in
    one fill, nothing in the other)."""
    close.close()
    deadline = time.monotonic() + timeout
    while not map_ids.isdisjoint(iter_map_ids()):
        assert time.monotonic() < deadline, f"maps {sorted(map_ids)} still loaded after {timeout} s"
        time.sleep(0.005)


def test_incremental_snapshots_equal_full_ones_while_objects_churn(iterators: Walkers) -> None:
    """Programs and maps loaded, unloaded and bound between snapshots: every snapshot built
    from an iterator pass and kept infos equals a full bpf() snapshot taken next to it, and
    only programs not seen before are read in full (where the program iterator is not
    loaded, snapshots walk with bpf() and every one must still equal a full one)."""
    incremental = loaded(iterators, "programs")
    loaded(iterators, "maps")
    inventory = Inventory("/sys/fs/bpf", max_age=0, iterators=iterators)
    held: list[Fd] = []
    map_of: dict[int, int] = {}  # a program's fd -> the id of the one map it uses
    closed_maps: set[int] = set()
    try:
        for step in range(6):
            m = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name=f"churn_m{step}")
            p = socket_filter(f"churn_p{step}", m)
            map_of[p.fd] = map_info(m).id
            held += [m, p]
            if step % 2:
                oldest = held.pop(0)  # unload the oldest object
                if oldest.fd in map_of:  # a program: its map goes too if its fd is closed
                    wait_until_gone(closed_maps & {map_of.pop(oldest.fd)}, close=oldest)
                else:
                    closed_maps.add(map_info(oldest).id)
                    oldest.close()
            reads_before = inventory.program_infos.reads
            snap = inventory.snapshot()
            full = take_snapshot("/sys/fs/bpf")
            assert snap.program_ids == full.program_ids
            assert without_moving_fields(snap.programs) == without_moving_fields(full.programs)
            assert snap.map_ids == full.map_ids and snap.maps == full.maps
            new = inventory.program_infos.reads - reads_before
            if incremental:
                assert new == (len(snap.programs) if step == 0 else 1)
            fill = map_fill(snap)
            assert fill.counts == map_fill(full).counts
    finally:
        for fd in held:
            fd.close()
