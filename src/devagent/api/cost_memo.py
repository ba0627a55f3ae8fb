"""Cost measures kept across snapshots: a UI's poll is measured once, not on every request.

The cost analysis (`limits`) walks the document against the list sizes of the request's
snapshot. For a fresh Navigation poll over ~50 objects that walk was 155 µs of the 180 µs
the whole operation took (its compiled plan ~25 µs): the explorer paid it every 2 s per
tab, for the same answer. A measure depends only on the document, the operation, the
variables and the sizes the walk read, and a fresh snapshot mostly has the same sizes. So
each measure is kept with exactly the sizes it read, and reused while a later snapshot's
sizes agree on every one of them; any difference measures again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
from graphql import OperationDefinitionNode

from ..bpf.lru import Lru
from .list_sizes import ListSizes, MapGeometry

if TYPE_CHECKING:
    from collections.abc import Mapping

M = TypeVar("M")  # a measure (limits.Measure; generic here so this module needs no limits)
MemoKey = tuple[str, str | None, bytes]
# What one measure read: (size name, value) pairs and (map id, geometry) lookups.
Reads = tuple[tuple[tuple[str, Any], ...], tuple[tuple[Any, MapGeometry | None], ...]]


class _RecordedIds:
    """`ListSizes.by_id` as the walk uses it (`get` only), each lookup remembered."""

    def __init__(self, ids: Mapping[int, MapGeometry], seen: dict[Any, MapGeometry | None]):
        self._ids = ids
        self._seen = seen

    def get(self, map_id: Any) -> MapGeometry | None:
        geometry = self._ids.get(map_id)
        self._seen[map_id] = geometry
        return geometry


class RecordingSizes(ListSizes):
    """A snapshot's ListSizes that remembers every size read from it (still lazily: a
    measure reads only the sizes of the lists the query selects)."""

    def __init__(self, sizes: ListSizes) -> None:  # no dataclass __init__: a view
        object.__setattr__(self, "_sizes", sizes)
        object.__setattr__(self, "_read", {})
        object.__setattr__(self, "_looked_up", {})

    def __getattr__(self, name: str) -> Any:
        sizes = object.__getattribute__(self, "_sizes")
        if name == "by_id":
            return _RecordedIds(sizes.by_id, object.__getattribute__(self, "_looked_up"))
        value = getattr(sizes, name)
        object.__getattribute__(self, "_read")[name] = value
        return value

    def reads(self) -> Reads:
        read = object.__getattribute__(self, "_read")
        looked_up = object.__getattribute__(self, "_looked_up")
        return tuple(read.items()), tuple(looked_up.items())


def memo_key(
    text_key: str | None, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> MemoKey | None:
    """The key of a measure: the document's token key, the operation and the variables; None
    when there is no token key (a text with strings) or the variables are not plain JSON."""
    if text_key is None:
        return None
    try:
        given = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
    except TypeError:
        return None  # e.g. an integer past 64 bits: measured every time, as before
    name = operation.name.value if operation.name else None
    return text_key, name, given


class MeasureMemo(Generic[M]):
    """Measures by key, each with the sizes it read (bounded LRU, thread-safe)."""

    def __init__(self, max_items: int = 256) -> None:
        self._items: Lru[MemoKey, tuple[M, Reads]] = Lru(max_items)

    def get(self, key: MemoKey, sizes: ListSizes) -> M | None:
        """The kept measure of `key` if every size it read is the same in `sizes`."""
        kept = self._items.get(key)
        if kept is None:
            return None
        measure, (read, looked_up) = kept
        if all(getattr(sizes, name) == value for name, value in read) and (
            not looked_up or all(sizes.by_id.get(i) == g for i, g in looked_up)
        ):
            return measure
        return None

    def put(self, key: MemoKey, measure: M, sizes: RecordingSizes) -> None:
        self._items.put(key, (measure, sizes.reads()))
