"""The values passed between resolvers: one snapshot entry per object, or its error.

A `*Node` holds the id and either the snapshot's info for the object or, for an object that
could not be read, its error text (the Go agent's `error` field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..bpf.info import LinkInfo, MapInfo, ProgramInfo
from ..bpf.procfs import Owner
from .context import RequestContext


@dataclass(frozen=True)
class ProgramNode:
    id: int
    prog: ProgramInfo | None
    error: str | None = None


@dataclass(frozen=True)
class MapNode:
    id: int
    map: MapInfo | None
    error: str | None = None


@dataclass(frozen=True)
class LinkNode:
    id: int
    link: LinkInfo | None
    error: str | None = None


def program_nodes(ctx: RequestContext, ids: Any = None) -> list[ProgramNode]:
    snap = ctx.snapshot
    if ids is None:
        ids = sorted({*snap.programs, *snap.program_errors})
    return [
        ProgramNode(i, snap.programs.get(i), snap.program_errors.get(i))
        for i in ids
        if i in snap.programs or i in snap.program_errors
    ]


def map_nodes(ctx: RequestContext, ids: Any = None) -> list[MapNode]:
    snap = ctx.snapshot
    if ids is None:
        ids = sorted({*snap.maps, *snap.map_errors})
    return [
        MapNode(i, snap.maps.get(i), snap.map_errors.get(i))
        for i in ids
        if i in snap.maps or i in snap.map_errors
    ]


def link_nodes(ctx: RequestContext, ids: Any = None) -> list[LinkNode]:
    snap = ctx.snapshot
    if ids is None:
        ids = sorted({*snap.links, *snap.link_errors})
    return [
        LinkNode(i, snap.links.get(i), snap.link_errors.get(i))
        for i in ids
        if i in snap.links or i in snap.link_errors
    ]


def owner_dicts(owners: list[Owner]) -> list[dict[str, Any]]:
    return [{"pid": o.pid, "comm": o.comm, "fd": o.fd} for o in owners]
