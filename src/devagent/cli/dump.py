"""`phydev inspect maps dump`: a whole map as JSON or a table, in any entry format.

The hot path of the CLI: each kernel batch is formatted in bulk by codec and written at once,
so a million entries are never all held as text, nor one Python object each in the HEX case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import TYPE_CHECKING

from ..bpf.errors import BPFError
from ..bpf.info import MapInfo
from ..bpf.maps import MapDump, MapHandle
from ..model.codec import Format, bulk_format, dump_json
from .prefetch import Prefetcher

if TYPE_CHECKING:  # model.entry_order (numpy, BTF) loads only for a sorted dump
    from ..model.entry_order import EntryView


class DumpError(BPFError):
    """A dump that cannot be made as asked (e.g. BTF requested for a map without BTF)."""


Piece = bytes | bytearray | memoryview


def dump_map(
    map_id: int,
    fmt: str | None,
    as_json: bool,
    *,
    key_format: str | None = None,
    value_format: str | None = None,
    view: EntryView | None = None,
) -> Iterator[Piece]:
    """The whole output of the dump command, in pieces to write as they come: one kernel
    batch at a time, so a million entries are never all in memory as text. `fmt` is hex,
    string, number or btf, for keys and values both (`key_format`, `value_format` override
    it for one part); None picks per part: btf where the map has a BTF type for it (as
    bpftool does), else hex; with `as_json` always hex (the documented --json default).
    Keys and values in different formats, or a `view` (sorted, top N, key search), read the
    whole map first (dump_view). Errors about the map itself (gone, unlistable, no BTF) come
    from the first next(), before anything is written."""
    with MapHandle.open(map_id, read_only=True) as handle:
        info = handle.info
        kfmt = (key_format or fmt or _auto_format(info, "key", as_json)).lower()
        vfmt = (value_format or fmt or _auto_format(info, "value", as_json)).lower()
        if kfmt != vfmt or (view is not None and not view.is_plain):
            from ..model.entry_order import EntryView
            from .dump_view import ViewError, dump_view

            dump = handle.read_all()
            try:
                yield from dump_view(info, dump, kfmt, vfmt, view or EntryView(), as_json)
            except ViewError as exc:
                raise DumpError(22, "", f"map {info.id}", str(exc).split(": ", 1)[-1]) from None
            return
        chunks = handle.iter_chunks()
        first = next(chunks)
        # The rest is fetched on a worker thread while this one formats (see prefetch); it
        # is stopped before the handle closes.
        with closing(Prefetcher(chunks)) as ahead:
            dumps = _chain(first, iter(ahead))
            if kfmt == "btf":
                runs = _btf_runs(info, dumps, as_json)
            elif as_json:
                runs = _json_runs(dumps, Format.parse(kfmt))
            else:
                runs = _table_runs(dumps, Format.parse(kfmt))
                yield _table_header(first)
            yield from _json_array(runs) if as_json else runs


def _auto_format(info: MapInfo, part: str, as_json: bool) -> str:
    """btf where the map has a BTF type for keys or values (not with --json, whose default
    stays hex: CONTRACT.md section 5), else hex."""
    if as_json or not info.btf_id:
        return "hex"
    if part == "key":
        return "btf" if info.btf_key_type_id else "hex"
    return "btf" if info.btf_value_type_id or info.btf_vmlinux_value_type_id else "hex"


def _chain(first: MapDump, rest: Iterator[MapDump]) -> Iterator[MapDump]:
    yield first
    yield from rest


def _json_array(runs: Iterator[Piece]) -> Iterator[Piece]:
    """One JSON array (and a newline) from runs of its elements, each run comma-separated
    inside and without brackets. The first run is asked for before anything is yielded."""
    opened = False
    for run in runs:
        yield b"," if opened else b"["
        yield run
        opened = True
    yield b"]\n" if opened else b"[]\n"


def _json_runs(dumps: Iterator[MapDump], fmt: Format) -> Iterator[Piece]:
    """Each non-empty chunk's JSON array with its brackets cut off (a view, no copy)."""
    for dump in dumps:
        if dump.count:
            body = dump_json(
                dump.keys, dump.values, dump.count, dump.key_size, dump.value_size, fmt,
                per_cpu=dump.per_cpu, ncpus=dump.ncpus, slot_size=dump.slot_size,
            )  # fmt: skip
            yield memoryview(body)[1:-1]


def _table_header(dump: MapDump) -> bytes:
    """`Key Value`, or `Key CPU0 CPU1 ...` for per-CPU maps."""
    cpus = [f"CPU{c}" for c in range(dump.ncpus)] if dump.per_cpu else ["Value"]
    return ("\t".join(["Key", *cpus]) + "\n").encode("utf-8")


def _table_runs(dumps: Iterator[MapDump], fmt: Format) -> Iterator[Piece]:
    for dump in dumps:
        if dump.count:
            yield _table_rows(dump, fmt)


def _table_rows(dump: MapDump, fmt: Format) -> bytes:
    columns = [bulk_format(dump.keys, dump.count, dump.key_size, fmt)]
    if dump.per_cpu:
        columns += [
            bulk_format(dump.values, dump.count, dump.value_size, fmt, dump.stride,
                        c * dump.slot_size)
            for c in range(dump.ncpus)
        ]  # fmt: skip
    else:
        columns.append(bulk_format(dump.values, dump.count, dump.value_size, fmt))
    return "".join("\t".join(row) + "\n" for row in zip(*columns, strict=True)).encode("utf-8")


def _btf_runs(info: MapInfo, dumps: Iterator[MapDump], as_json: bool) -> Iterator[Piece]:
    """Entries decoded by BTF, per non-empty chunk: comma-separated JSON objects (elements of
    one array) or one JSON object per line."""
    import orjson

    from ..model.btf_entries import load_map_btf, render_dump

    btf = load_map_btf(info)
    if btf is None:
        raise DumpError(
            61, "", f"map {info.id}", "has no BTF: use --format hex, string or number"
        )  # ENODATA
    for dump in dumps:
        entries = render_dump(btf, info, dump)
        if not entries:
            continue
        if as_json:
            yield b",".join(orjson.dumps(entry) for entry in entries)
        else:
            yield b"".join(orjson.dumps(entry) + b"\n" for entry in entries)
