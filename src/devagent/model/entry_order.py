"""Map entries in the order that answers a question: by value, by a field, by the per-CPU
sum; only the N largest; only keys matching a search. Shared by the API (`entries(sortBy:,
descending:, top:, keySearch:)`) and the CLI (`inspect maps dump --sort --top --key`), so
both give the same entries in the same order.

Everything works on one whole-map read (bpf.maps.MapDump) with numpy: a sort of a million
entries by a field costs ~0.1 s. Ties keep key order (bytes order), so an answer is stable
from one read to the next. Only a key search through BTF text renders each key in Python;
the caller bounds it (`max_rendered`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..bpf.maps import MapDump
from .btf_fields import NumericField, field_column, find_field

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from .btf_fields import Column

    Indexes = npt.NDArray[np.intp]

SORT_KEY, SORT_VALUE, SORT_SUM = "key", "value", "sum"


class OrderError(ValueError):
    """A sort or search that cannot be made on this map; the message says why and what to
    ask for instead."""


@dataclass(frozen=True)
class EntryView:
    """How to choose and order entries. `sort`: "key", "value" (the whole value as an
    unsigned number; the per-CPU sum on per-CPU maps), "sum" (the same, named for per-CPU
    maps) or a field path of a BTF struct value (per-CPU maps: its sum over CPUs).
    `descending`: None means descending for value sorts, ascending for key order. `top`: only
    the N greatest by the sort, shown in the asked direction. `search`: a case-insensitive
    substring of the formatted key (in `search_format` when given: two answers in different
    key formats then hold the same entries)."""

    sort: str = SORT_KEY
    descending: bool | None = None
    top: int | None = None
    search: str | None = None
    search_format: str | None = None  # the key format searched (None: the keys' own)

    @property
    def is_plain(self) -> bool:
        """The default view: every entry in key order."""
        return (
            self.sort == SORT_KEY and not self.descending and self.top is None and (not self.search)
        )

    @property
    def is_descending(self) -> bool:
        return self.descending if self.descending is not None else self.sort != SORT_KEY


def value_cells(dump: MapDump) -> npt.NDArray[np.uint8]:
    """The values as an (entries, CPUs, value_size) byte array (CPUs = 1 for plain maps)."""
    import numpy as np

    raw = np.frombuffer(dump.values, dtype=np.uint8, count=dump.count * dump.stride)
    cells = raw.reshape(dump.count, dump.ncpus if dump.per_cpu else 1, -1)
    return cells[:, :, : dump.value_size]


def whole_values(dump: MapDump) -> npt.NDArray[np.uint64]:
    """Each value (each CPU's) as an unsigned number: shape (entries, CPUs). Values of more
    than 8 bytes have no such number: OrderError."""
    import numpy as np

    size = dump.value_size
    if size > 8:
        raise OrderError(
            f"values are {size} bytes: sorting by the whole value needs at most 8; "
            "sort by a field of its BTF type instead"
        )
    cells = value_cells(dump)
    padded = np.zeros((dump.count, cells.shape[1], 8), dtype=np.uint8)
    padded[:, :, :size] = cells  # little-endian: the low bytes first
    return padded.view("<u8")[:, :, 0].astype(np.uint64)


def field_values(dump: MapDump, field: NumericField) -> Column:
    """`field` of each value (each CPU's): shape (entries, CPUs)."""
    cells = value_cells(dump)
    n, cpus, size = cells.shape
    column = field_column(cells.reshape(n * cpus, size), field)
    return column.reshape(n, cpus)


def sort_values(dump: MapDump, sort: str, fields: list[NumericField] | None) -> Column:
    """The number each entry is sorted by (summed over CPUs for per-CPU maps)."""
    per_cpu: Column
    if sort in (SORT_VALUE, SORT_SUM):
        per_cpu = whole_values(dump)
    else:
        if fields is None:
            raise OrderError(
                f"sort {sort!r}: the map has no BTF type for its values; sort by key, value or sum"
            )
        field = find_field(fields, sort)
        if field is None:
            names = ", ".join(f.path for f in fields if f.path) or "none"
            raise OrderError(f"sort {sort!r}: no numeric field of that name (fields: {names})")
        per_cpu = field_values(dump, field)
    summed: Column = per_cpu.sum(axis=1)
    return summed


def totals(dump: MapDump, rows: Indexes) -> list[int] | None:
    """The per-CPU sum of each chosen entry's whole value; None when values have more than
    8 bytes or the map is not per-CPU."""
    if not dump.per_cpu or dump.value_size > 8:
        return None
    summed = whole_values(dump)[rows].sum(axis=1)
    return [int(v) for v in summed.tolist()]


def field_totals(
    dump: MapDump, rows: Indexes, fields: list[NumericField]
) -> list[dict[str, object]]:
    """The per-CPU sum of each numeric field of each chosen entry: {path: sum}."""
    columns = [
        (f.path or "value", field_values(dump, f)[rows].sum(axis=1).tolist()) for f in fields
    ]
    return [{path: col[i] for path, col in columns} for i in range(len(rows))]


def choose(
    dump: MapDump,
    view: EntryView,
    key_order: Indexes,
    *,
    fields: list[NumericField] | None = None,
    key_texts: Callable[[], list[str]] | None = None,
) -> Indexes:
    """Entry indexes as the view asks: `key_order` is every entry in key order (how ties
    are broken); `key_texts` gives each entry's formatted key (called only for a search)."""
    import numpy as np

    chosen = key_order
    if view.search:
        if key_texts is None:
            raise OrderError("this key format cannot be searched")
        needle = view.search.casefold()
        texts = key_texts()
        hits = np.fromiter(
            (needle in texts[i].casefold() for i in chosen.tolist()), dtype=bool, count=len(chosen)
        )
        chosen = chosen[hits]
    ties = np.arange(len(chosen), dtype=np.int64)  # key order within equal values
    if view.sort != SORT_KEY:
        by = sort_values(dump, view.sort, fields)[chosen]
        _, rank = np.unique(by, return_inverse=True)
        rank = rank.reshape(-1).astype(np.int64)
    else:
        rank = ties
    greatest = chosen[np.lexsort((ties, -rank))]
    if view.top is None:
        return greatest if view.is_descending else chosen[np.lexsort((ties, rank))]
    kept = greatest[: max(view.top, 0)]
    if view.is_descending:
        return kept
    # The N greatest, smallest first (ties still in key order).
    keep = np.zeros(dump.count, dtype=bool)
    keep[kept] = True
    ascending = chosen[np.lexsort((ties, rank))]
    chosen = ascending[keep[ascending]]
    return np.ascontiguousarray(chosen)
