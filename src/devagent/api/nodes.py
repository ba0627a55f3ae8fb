"""The values passed between resolvers: one snapshot entry per object, or its error.

A `*Node` holds the id and either the snapshot's info for the object or, for an object that
could not be read, its error text (the Go agent's `error` field): never both, since a
snapshot lists each object once, read or failed (model.snapshot.split_errors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from weakref import ref

from ..bpf.info import LinkInfo, MapInfo, ProgramInfo
from ..bpf.procfs import Owner
from ..model.snapshot import Snapshot
from .context import RequestContext


class SnapshotParts:
    """What the nodes of one snapshot read from it, each part taken from the snapshot once
    and then kept as a plain attribute (for 2000 nodes, a property chain through the
    snapshot per read cost ~1 ms of a 13 ms poll). The snapshot itself is held weakly:
    node lists are kept in the snapshot (Snapshot.memo), and a strong reference back would
    make each snapshot a cycle for the garbage collector. A part holds no snapshot."""

    __slots__ = ("__dict__", "_ref")

    def __init__(self, snap: Snapshot) -> None:
        self._ref = ref(snap)

    @classmethod
    def of(cls, snap: Snapshot) -> SnapshotParts:
        """The one instance of a snapshot (made on first use, kept in its memo)."""
        return snap.memo(("node_parts",), lambda: cls(snap))

    @property
    def snapshot(self) -> Snapshot:
        snap = self._ref()
        assert snap is not None, "a node outlived the request holding its snapshot"  # noqa: S101 our invariant
        return snap

    def __getattr__(self, name: str) -> Any:  # a part's first use
        take = _PARTS.get(name)
        if take is None:
            raise AttributeError(name)
        value = take(self.snapshot)
        setattr(self, name, value)
        return value


_PARTS: dict[str, Callable[[Snapshot], Any]] = {
    "programs": lambda s: s.programs,
    "program_errors": lambda s: s.program_errors,
    "maps": lambda s: s.maps,
    "map_errors": lambda s: s.map_errors,
    "links": lambda s: s.links,
    "link_errors": lambda s: s.link_errors,
    "pinned_maps": lambda s: s.pins.maps,
    "agent_programs": lambda s: s.agent_programs,
    "agent_maps": lambda s: s.agent_maps,
    "agent_links": lambda s: s.agent_links,
}


class InfoField:
    """Resolver of a field computed from the node's kernel info alone (`node.<attr>`), with
    `missing` when the object could not be read. A plan (api.fastpath) reads the info once
    per object and calls `getter` directly."""

    __slots__ = ("attr", "getter", "missing")

    def __init__(self, attr: str, getter: Callable[[Any], Any], missing: Any = None) -> None:
        self.attr = attr
        self.getter = getter
        self.missing = missing

    def __call__(self, node: Any, _info: Any) -> Any:
        value = getattr(node, self.attr)
        return self.missing if value is None else self.getter(value)


class NodeAttr:
    """Resolver of a node's own attribute (`id`, `error`); inlined by the compiled plan."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, node: Any, _info: Any) -> Any:
        return getattr(node, self.name)


class ProgramNode:
    """A program of the request's snapshot. Its info is looked up when a field needs it, so
    `{ programs { id } }` costs one id walk and no info read."""

    __slots__ = ("_parts", "id")

    def __init__(self, id: int, parts: SnapshotParts) -> None:
        self.id = id
        self._parts = parts

    @property
    def prog(self) -> ProgramInfo | None:
        return self._parts.programs.get(self.id)  # type: ignore[no-any-return]

    @property
    def error(self) -> str | None:
        return self._parts.program_errors.get(self.id)  # type: ignore[no-any-return]

    @property
    def agent_own(self) -> bool:
        """Whether it is one of the agent's own programs (bpf.agent_objects)."""
        return self.id in self._parts.agent_programs


class MapNode:
    """A map of the request's snapshot (see ProgramNode)."""

    __slots__ = ("_parts", "id")

    def __init__(self, id: int, parts: SnapshotParts) -> None:
        self.id = id
        self._parts = parts

    @property
    def map(self) -> MapInfo | None:
        return self._parts.maps.get(self.id)  # type: ignore[no-any-return]

    @property
    def error(self) -> str | None:
        return self._parts.map_errors.get(self.id)  # type: ignore[no-any-return]

    @property
    def agent_own(self) -> bool:
        """Whether it is the agent's own map (bpf.agent_objects)."""
        return self.id in self._parts.agent_maps

    @property
    def is_pinned(self) -> bool:
        """Whether the map is pinned anywhere under the snapshot's bpffs directory."""
        return bool(self._parts.pinned_maps.get(self.id))


class LinkNode:
    """A link of the request's snapshot (see ProgramNode)."""

    __slots__ = ("_parts", "id")

    def __init__(self, id: int, parts: SnapshotParts) -> None:
        self.id = id
        self._parts = parts

    @property
    def link(self) -> LinkInfo | None:
        return self._parts.links.get(self.id)  # type: ignore[no-any-return]

    @property
    def error(self) -> str | None:
        return self._parts.link_errors.get(self.id)  # type: ignore[no-any-return]

    @property
    def agent_own(self) -> bool:
        """Whether the link attaches one of the agent's own programs."""
        return self.id in self._parts.agent_links


def program_nodes(ctx: RequestContext, ids: Iterable[int] | None = None) -> list[ProgramNode]:
    """Nodes of the snapshot's programs (all, in id order, without reading their infos), or
    of those of `ids` that the snapshot holds. Callers must not change the list: the one of
    all programs is made once per snapshot (a node reads its info once, for every request)."""
    snap = ctx.snapshot
    parts = SnapshotParts.of(snap)
    if ids is None:  # one list per snapshot, shared by every request on it (read only)
        return snap.memo(
            ("program_nodes",), lambda: [ProgramNode(i, parts) for i in snap.program_ids]
        )
    known, failed = snap.programs, snap.program_errors
    return [ProgramNode(i, parts) for i in ids if i in known or i in failed]


def map_nodes(ctx: RequestContext, ids: Iterable[int] | None = None) -> list[MapNode]:
    """Nodes of the snapshot's maps (see program_nodes)."""
    snap = ctx.snapshot
    parts = SnapshotParts.of(snap)
    if ids is None:  # shared per snapshot, as in program_nodes
        return snap.memo(("map_nodes",), lambda: [MapNode(i, parts) for i in snap.map_ids])
    known, failed = snap.maps, snap.map_errors
    return [MapNode(i, parts) for i in ids if i in known or i in failed]


def link_nodes(ctx: RequestContext, ids: Iterable[int] | None = None) -> list[LinkNode]:
    """Nodes of the snapshot's links (all, or those of `ids` it holds)."""
    snap = ctx.snapshot
    parts = SnapshotParts.of(snap)
    known, failed = snap.links, snap.link_errors
    if ids is None:
        ids = sorted({*known, *failed})
    return [LinkNode(i, parts) for i in ids if i in known or i in failed]


def owner_dicts(owners: list[Owner]) -> list[dict[str, Any]]:
    return [{"pid": o.pid, "comm": o.comm, "fd": o.fd} for o in owners]
