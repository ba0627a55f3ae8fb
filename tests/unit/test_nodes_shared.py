"""The lists of all programs and all maps are made once per snapshot and shared by every
request on it (8 clients polling 1000 + 1000 objects made 2000 nodes per request)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from devagent.api.nodes import map_nodes, program_nodes
from devagent.bpf.info import MapInfo, ObjectError
from devagent.model.snapshot import Snapshot


def snapshot() -> Snapshot:
    hash_map = MapInfo(7, 1, "m", 4, 8, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return Snapshot.of(programs=[ObjectError(3, "program", "gone")], maps=[hash_map])


def ctx(snap: Snapshot) -> Any:
    return SimpleNamespace(snapshot=snap)  # what the node functions read of a request


def test_node_lists_are_made_once_per_snapshot() -> None:
    snap = snapshot()
    programs, maps = program_nodes(ctx(snap)), map_nodes(ctx(snap))
    assert program_nodes(ctx(snap)) is programs and map_nodes(ctx(snap)) is maps
    assert [(n.id, n.error, n.prog) for n in programs] == [(3, "gone", None)]
    assert [(n.id, n.map.name if n.map else None) for n in maps] == [(7, "m")]
    fresh = snapshot()
    assert program_nodes(ctx(fresh)) is not programs and map_nodes(ctx(fresh)) is not maps
    # Lists of chosen ids are the caller's own.
    assert program_nodes(ctx(snap), [3]) is not program_nodes(ctx(snap), [3])
    assert [n.id for n in map_nodes(ctx(snap), [7, 8])] == [7]
