"""`inspect maps dump` when the answer is not every entry in one format: keys and values in
different formats (`--key-format`, `--value-format`), or entries sorted by value, a field or
the per-CPU sum, the top N, keys matching a search (`--sort`, `--top`, `--key`).

The whole map is read once (sorting needs every entry), the entries are chosen and ordered by
model.entry_order (the same code as GraphQL's `entries(sortBy:, top:, keySearch:)`), and each
chosen entry is formatted in Python: a top-N answer is small, and a full sorted dump of a big
map is still one pass.

Output: the table has `Key`, `Value` (or `CPU0 CPU1 ...`) and, for per-CPU maps sorted by
value, a `Total` column; cells are in their format, BTF ones as compact JSON. `--json` gives
the usual array, keys and values as strings in their format or decoded JSON for BTF, plus
`"total"` on per-CPU maps sorted by value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..bpf.info import MapInfo
from ..bpf.maps import MapDump
from ..model.codec import Format, format_bytes
from ..model.entry_order import SORT_KEY, SORT_SUM, SORT_VALUE, EntryView, OrderError, choose

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BTF = "btf"
Cell = Callable[[bytes], object]  # raw bytes -> str, or a decoded BTF value


class ViewError(ValueError):
    """A view that cannot be made on this map (no such field, no BTF, ...)."""


def cell_formatter(info: MapInfo, part: str, fmt: str) -> Cell:
    """Bytes -> a key or value in `fmt` (hex, string, number: text; btf: the decoded value)."""
    if fmt != BTF:
        codec = Format.parse(fmt)
        return lambda data: format_bytes(data, codec)
    from ..bpf.btf.types import BTFError
    from ..model.btf_entries import load_map_btf
    from ..model.btf_render import compile_renderer

    type_id = info.btf_key_type_id if part == "key" else (
        info.btf_value_type_id or info.btf_vmlinux_value_type_id
    )  # fmt: skip
    btf = load_map_btf(info) if type_id else None
    if btf is None:
        raise ViewError(f"map {info.id}: has no BTF type for its {part}s: use --{part}-format "
                        "hex, string or number")  # fmt: skip
    try:
        return compile_renderer(btf, type_id)
    except BTFError as exc:
        raise ViewError(f"map {info.id}: cannot decode its {part}s by BTF: {exc}") from None


def _key_order(dump: MapDump, key_format: str) -> npt.NDArray[np.intp]:
    from ..model.codec import sort_order

    codec = Format.HEX if key_format == BTF else Format.parse(key_format)
    return sort_order(dump.keys, dump.count, dump.key_size, codec)


def choose_rows(
    info: MapInfo, dump: MapDump, view: EntryView, key_format: str, key_cell: Cell
) -> npt.NDArray[np.intp]:
    """Indexes of the entries the view asks for, in its order (ties in key order)."""
    from ..model.btf_fields import map_value_fields

    fields = map_value_fields(info) if view.sort not in (SORT_KEY, SORT_VALUE, SORT_SUM) else None

    def key_texts() -> list[str]:
        return [_text(key_cell(dump.key(i))) for i in range(dump.count)]

    try:
        return choose(dump, view, _key_order(dump, key_format), fields=fields,
                      key_texts=key_texts)  # fmt: skip
    except OrderError as exc:
        raise ViewError(f"map {info.id}: {exc}") from None


def _text(cell: object) -> str:
    """A cell as table text: strings as they are, decoded BTF values as compact JSON."""
    if isinstance(cell, str):
        return cell
    import orjson

    return orjson.dumps(cell).decode()


def _totals(
    info: MapInfo, dump: MapDump, rows: npt.NDArray[np.intp], view: EntryView
) -> list[object] | None:
    """Per-CPU maps sorted by value: each row's sum over CPUs of what it is sorted by."""
    if not dump.per_cpu or view.sort == SORT_KEY:
        return None
    from ..model.entry_order import sort_values

    fields = None
    if view.sort not in (SORT_VALUE, SORT_SUM):
        from ..model.btf_fields import map_value_fields

        fields = map_value_fields(info)
    return [v for v in sort_values(dump, view.sort, fields)[rows].tolist()]


def dump_view(
    info: MapInfo, dump: MapDump, key_format: str, value_format: str, view: EntryView,
    as_json: bool,
) -> Iterator[bytes]:  # fmt: skip
    """The whole output for one whole-map read, as pieces to write."""
    import orjson

    key_cell = cell_formatter(info, "key", key_format)
    value_cell = cell_formatter(info, "value", value_format)
    if view.is_plain:
        rows: list[int] = list(range(dump.count))
        if dump.count:
            rows = _key_order(dump, key_format).tolist()
        totals = None
    else:
        chosen = choose_rows(info, dump, view, key_format, key_cell)
        rows = chosen.tolist()
        totals = _totals(info, dump, chosen, view)
    if as_json:
        entries = []
        for n, i in enumerate(rows):
            entry: dict[str, object] = {"key": key_cell(dump.key(i))}
            if dump.per_cpu:
                entry["values"] = [{"cpu": c, "value": value_cell(v)}
                                   for c, v in enumerate(dump.cpu_values(i))]  # fmt: skip
            else:
                entry["value"] = value_cell(dump.value(i))
            if totals is not None:
                entry["total"] = totals[n]
            entries.append(entry)
        yield orjson.dumps(entries) + b"\n"
        return
    head = [f"CPU{c}" for c in range(dump.ncpus)] if dump.per_cpu else ["Value"]
    yield ("\t".join(["Key", *head, *(["Total"] if totals is not None else [])]) + "\n").encode()
    lines = []
    for n, i in enumerate(rows):
        values = dump.cpu_values(i) if dump.per_cpu else [dump.value(i)]
        cells = [_text(key_cell(dump.key(i))), *(_text(value_cell(v)) for v in values)]
        if totals is not None:
            cells.append(str(totals[n]))
        lines.append("\t".join(cells) + "\n")
    yield "".join(lines).encode("utf-8")
