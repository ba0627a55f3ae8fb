"""`phydev inspect maps dump`: a whole map as JSON or a table, in any entry format.

The hot path of the CLI: each kernel batch is formatted in bulk by codec and written at once,
so a million entries are never all held as text, nor one Python object each in the HEX case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

from .bpf.errors import BPFError
from .bpf.maps import MapDump, MapHandle
from .bpf.objects import MapInfo
from .codec import Format, bulk_format, dump_json
from .prefetch import Prefetcher


class DumpError(BPFError):
    """A dump that cannot be made as asked (e.g. BTF requested for a map without BTF)."""


Piece = bytes | bytearray | memoryview


def dump_map(map_id: int, fmt: str, as_json: bool) -> Iterator[Piece]:
    """The whole output of the dump command, in pieces to write as they come: one kernel
    batch at a time, so a million entries are never all in memory as text. `fmt` is hex,
    string, number or btf. Errors about the map itself (gone, unlistable, no BTF) come from
    the first next(), before anything is written."""
    with MapHandle.open(map_id, read_only=True) as handle:
        info = handle.info
        chunks = handle.iter_chunks()
        first = next(chunks)
        # The rest is fetched on a worker thread while this one formats (see prefetch); it
        # is stopped before the handle closes.
        with closing(Prefetcher(chunks)) as ahead:
            if fmt == "btf":
                pieces = _btf_pieces(info, _chain(first, iter(ahead)), as_json)
            elif as_json:
                pieces = _json_pieces(_chain(first, iter(ahead)), Format.parse(fmt))
            else:
                pieces = _table_pieces(_chain(first, iter(ahead)), Format.parse(fmt))
            yield from pieces


def _chain(first: MapDump, rest: Iterator[MapDump]) -> Iterator[MapDump]:
    yield first
    yield from rest


def _json_pieces(chunks: Iterator[MapDump], fmt: Format) -> Iterator[Piece]:
    """One JSON array built from each chunk's array with its brackets cut off (no copy)."""
    opened = False
    for dump in chunks:
        if not dump.count:
            continue
        body = dump_json(
            dump.keys, dump.values, dump.count, dump.key_size, dump.value_size, fmt,
            per_cpu=dump.per_cpu, ncpus=dump.ncpus, slot_size=dump.slot_size,
        )  # fmt: skip
        yield b"," if opened else b"["
        yield memoryview(body)[1:-1]
        opened = True
    yield b"]\n" if opened else b"[]\n"


def _table_pieces(chunks: Iterator[MapDump], fmt: Format) -> Iterator[Piece]:
    """Tab-separated `Key Value` lines (`Key CPU0 CPU1 ...` for per-CPU maps)."""
    header_done = False
    for dump in chunks:
        if not header_done:
            cpus = (f"CPU{c}" for c in range(dump.ncpus)) if dump.per_cpu else ("Value",)
            yield ("\t".join(["Key", *cpus]) + "\n").encode("utf-8")
            header_done = True
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


def _btf_pieces(info: MapInfo, chunks: Iterator[MapDump], as_json: bool) -> Iterator[Piece]:
    """Entries decoded by BTF: one JSON array, or one JSON object per line."""
    import orjson

    from .bpf.btf_render import load_map_btf, render_dump

    btf = load_map_btf(info)
    if btf is None:
        raise DumpError(
            61, "", f"map {info.id}", "has no BTF: use --format hex, string or number"
        )  # ENODATA
    opened = False
    for dump in chunks:
        entries = render_dump(btf, info, dump)
        if not entries:
            continue
        if as_json:
            yield b"," if opened else b"["
            yield b",".join(orjson.dumps(entry) for entry in entries)
        else:
            yield b"".join(orjson.dumps(entry) + b"\n" for entry in entries)
        opened = True
    if as_json:
        yield b"]\n" if opened else b"[]\n"
