"""The values passed between resolvers: one snapshot entry per object, or its error.

A `*Node` holds the id and either the snapshot's info for the object or, for an object that
could not be read, its error text (the Go agent's `error` field): never both, since a
snapshot lists each object once, read or failed (model.snapshot.split_errors). The compiled
plan relies on it: an object with an info is answered with `error: null` from its memo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from weakref import ref

from ..bpf.info import LinkInfo, MapInfo, ProgramInfo
from ..bpf.procfs import Owner
from ..model.snapshot import Snapshot
from .context import RequestContext

_UNREAD = object()


class _OfSnapshot:
    """A node's snapshot, held weakly: the lists of every node are kept in the snapshot
    itself (Snapshot.memo), and a strong reference back would make each snapshot a cycle
    for the garbage collector. The request that reads a node holds its snapshot."""

    __slots__ = ()
    _ref: Callable[[], Snapshot | None]

    @property
    def _snap(self) -> Snapshot:
        snap = self._ref()
        assert snap is not None, "a node outlived the request holding its snapshot"
        return snap


class InfoField:
    """Resolver of a field computed from the node's kernel info alone (`node.<attr>`), with
    `missing` when the object could not be read. The compiled plan (api.plan_compiler)
    inlines these: it reads the info once per object and calls `getter` directly."""

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


class ProgramNode(_OfSnapshot):
    """A program of the request's snapshot. Its info is looked up when a field needs it, so
    `{ programs { id } }` costs one id walk and no info read."""

    __slots__ = ("_info", "_ref", "id")

    def __init__(self, id: int, snap: Snapshot) -> None:
        self.id = id
        self._ref = ref(snap)
        self._info: ProgramInfo | object | None = _UNREAD

    @property
    def prog(self) -> ProgramInfo | None:
        info = self._info
        if info is _UNREAD:
            info = self._info = self._snap.programs.get(self.id)
        return info  # type: ignore[return-value]

    @property
    def error(self) -> str | None:
        return self._snap.program_errors.get(self.id)


class MapNode(_OfSnapshot):
    """A map of the request's snapshot (see ProgramNode)."""

    __slots__ = ("_info", "_ref", "id")

    def __init__(self, id: int, snap: Snapshot) -> None:
        self.id = id
        self._ref = ref(snap)
        self._info: MapInfo | object | None = _UNREAD

    @property
    def map(self) -> MapInfo | None:
        info = self._info
        if info is _UNREAD:
            info = self._info = self._snap.maps.get(self.id)
        return info  # type: ignore[return-value]

    @property
    def error(self) -> str | None:
        return self._snap.map_errors.get(self.id)

    @property
    def is_pinned(self) -> bool:
        """Whether the map is pinned anywhere under the snapshot's bpffs directory."""
        return bool(self._snap.pins.maps.get(self.id))


class LinkNode(_OfSnapshot):
    """A link of the request's snapshot (see ProgramNode)."""

    __slots__ = ("_info", "_ref", "id")

    def __init__(self, id: int, snap: Snapshot) -> None:
        self.id = id
        self._ref = ref(snap)
        self._info: LinkInfo | object | None = _UNREAD

    @property
    def link(self) -> LinkInfo | None:
        info = self._info
        if info is _UNREAD:
            info = self._info = self._snap.links.get(self.id)
        return info  # type: ignore[return-value]

    @property
    def error(self) -> str | None:
        return self._snap.link_errors.get(self.id)


def program_nodes(ctx: RequestContext, ids: Iterable[int] | None = None) -> list[ProgramNode]:
    """Nodes of the snapshot's programs (all, in id order, without reading their infos), or
    of those of `ids` that the snapshot holds. Callers must not change the list: the one of
    all programs is made once per snapshot (a node reads its info once, for every request)."""
    snap = ctx.snapshot
    if ids is None:  # one list per snapshot, shared by every request on it (read only)
        return snap.memo(
            ("program_nodes",), lambda: [ProgramNode(i, snap) for i in snap.program_ids]
        )
    known, failed = snap.programs, snap.program_errors
    return [ProgramNode(i, snap) for i in ids if i in known or i in failed]


def map_nodes(ctx: RequestContext, ids: Iterable[int] | None = None) -> list[MapNode]:
    """Nodes of the snapshot's maps (see program_nodes)."""
    snap = ctx.snapshot
    if ids is None:  # shared per snapshot, as in program_nodes
        return snap.memo(("map_nodes",), lambda: [MapNode(i, snap) for i in snap.map_ids])
    known, failed = snap.maps, snap.map_errors
    return [MapNode(i, snap) for i in ids if i in known or i in failed]


def link_nodes(ctx: RequestContext, ids: Iterable[int] | None = None) -> list[LinkNode]:
    """Nodes of the snapshot's links (all, or those of `ids` it holds)."""
    snap = ctx.snapshot
    known, failed = snap.links, snap.link_errors
    if ids is None:
        ids = sorted({*known, *failed})
    return [LinkNode(i, snap) for i in ids if i in known or i in failed]


def owner_dicts(owners: list[Owner]) -> list[dict[str, Any]]:
    return [{"pid": o.pid, "comm": o.comm, "fd": o.fd} for o in owners]
