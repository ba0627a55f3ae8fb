"""Answers kept across snapshots (api.object_memo): the explorer's Navigation, run by the
compiled plan over snapshots between which programs run, maps are pinned, unpinned, created
and deleted, equals graphql-core's answer byte for byte every time, and only the objects
that changed are built again."""

from __future__ import annotations

import os
from collections.abc import Iterator

import orjson
import pytest
from ariadne import graphql_sync

from devagent.api import build_schema, object_memo, plan_compiler
from devagent.api.context import RequestContext
from devagent.api.entries import EntryPager
from devagent.api.fastpath import FastPath
from devagent.bpf.info import ProgramInfo
from devagent.bpf.maps import create_map
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.objects import map_info, program_info
from devagent.bpf.pins import pin_object
from devagent.bpf.progs import load_program, return_imm
from devagent.bpf.replay import replay
from devagent.bpf.walkers import Walkers
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.conftest import BpffsMount, StatsHold, require_kernel

SCHEMA = build_schema()
NAVIGATION = (
    "query Navigation { programs { id error name type tag runTime runCount btfId } "
    "maps { id error name type flags isPinned keySize valueSize maxEntries } }"
)


@pytest.fixture(scope="module")
def iterators() -> Iterator[Walkers]:
    require_kernel()
    walkers = Walkers()
    walkers.start()
    yield walkers
    walkers.close()


@pytest.mark.parametrize("with_iterators", [True, False])
def test_navigation_over_changing_snapshots_equals_graphql_core(
    iterators: Walkers,
    stats_enabled: StatsHold,
    with_iterators: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mount = BpffsMount()
    held = []
    try:
        maps = [create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name=f"memo_m{i}") for i in range(4)]
        progs = [load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0, (m.fd,)),
                              name=f"memo_p{i}") for i, m in enumerate(maps)]  # fmt: skip
        held = maps + progs
        map_ids = [map_info(m).id for m in maps]
        prog_ids = [program_info(p).id for p in progs]
        inventory = Inventory(str(mount.path), max_age=0,
                              iterators=iterators if with_iterators else Walkers())  # fmt: skip
        rebuilt: list[str] = []  # "p<id>" / "m<id>" of each object whose answer was built

        def remember(memo: object, key: object, entry: tuple[object, object]) -> None:
            info = entry[0]
            rebuilt.append(f"{'p' if isinstance(info, ProgramInfo) else 'm'}{info.id}")  # type: ignore[attr-defined]
            object_memo.remember(memo, key, entry)  # type: ignore[arg-type]

        monkeypatch.setattr(plan_compiler, "remember", remember)
        fast = FastPath(SCHEMA, [])
        pin = str(mount.path / "memo_pin")
        changes = [
            lambda: None,
            lambda: None,
            lambda: replay(prog_ids[0], bytes(64), repeat=3),  # counters move
            lambda: pin_object(maps[1], pin),  # isPinned turns true
            lambda: os.unlink(pin),  # and false again
            lambda: maps.pop(3).close(),  # a map goes (its program still holds it)
            lambda: held.append(create_map(MAP_TYPE_IDS["Array"], 4, 8, 2, name="memo_new")),
        ]
        ours_ids = {f"p{i}" for i in prog_ids} | {f"m{i}" for i in map_ids}
        built = []
        for change in changes:
            change()
            ctx = RequestContext(Settings(bpf_dir=str(mount.path)), inventory,
                                 EntryPager(inventory), inventory.snapshot())  # fmt: skip
            data = {"query": NAVIGATION}
            rebuilt.clear()
            ours = fast.run(data, ctx)
            built.append(sorted(set(rebuilt) & ours_ids))
            _, theirs = graphql_sync(SCHEMA, data, context_value=ctx)
            assert ours is not None and orjson.dumps(ours) == orjson.dumps(theirs)
        answer = orjson.loads(orjson.dumps(ours))
        runs = {p["id"]: p["runCount"] for p in answer["data"]["programs"]}
        assert runs[prog_ids[0]] == 3 and runs[prog_ids[1]] == 0
        # The selection's first list is built plainly, the second keeps every answer.
        assert built[0] == [] and built[1] == sorted(ours_ids)
        if with_iterators and iterators.programs is not None:  # this kernel runs it (5.19+)
            # Afterwards only what changed: the program that ran, the map pinned (unpinned
            # again, its first answer is still kept), nothing for a map gone or a new one.
            p0, m1 = f"p{prog_ids[0]}", f"m{map_ids[1]}"
            assert built[2:] == [[p0], [m1], [], [], []], built
        else:
            # Without the iterator (not asked for, or this kernel cannot run it) every
            # program's info is read afresh: all built again.
            assert all({f"p{i}" for i in prog_ids} <= set(b) for b in built[1:]), built
    finally:
        for fd in held:
            fd.close()
        mount.close()
