"""`phydev inspect maps dump`: a whole map as JSON or a table, in any entry format.

The hot path of the CLI: one batched read into two buffers, then bulk formatting in codec,
so a million entries never become a million Python objects in the HEX case.
"""

from __future__ import annotations

from .bpf.errors import BPFError
from .bpf.maps import MapDump, MapHandle
from .bpf.objects import MapInfo
from .codec import Format, bulk_format, dump_json


class DumpError(BPFError):
    """A dump that cannot be made as asked (e.g. BTF requested for a map without BTF)."""


def read_map(map_id: int) -> tuple[MapInfo, MapDump]:
    """Info and every entry of a map, read through a read-only fd."""
    with MapHandle.open(map_id, read_only=True) as handle:
        return handle.info, handle.read_all()


def dump_map(map_id: int, fmt: str, as_json: bool) -> list[bytes | bytearray]:
    """The whole output of the dump command, in pieces to write one after the other (a big
    map's JSON is not copied again to add its newline): `fmt` is hex, string, number or btf."""
    info, dump = read_map(map_id)
    if fmt == "btf":
        return [_dump_btf(info, dump, as_json)]
    codec_fmt = Format.parse(fmt)
    if as_json:
        body = dump_json(
            dump.keys, dump.values, dump.count, dump.key_size, dump.value_size, codec_fmt,
            per_cpu=dump.per_cpu, ncpus=dump.ncpus, slot_size=dump.slot_size,
        )  # fmt: skip
        return [body, b"\n"]
    return [_table(dump, codec_fmt)]


def _table(dump: MapDump, fmt: Format) -> bytes:
    """Tab-separated `Key Value` lines (`Key CPU0 CPU1 ...` for per-CPU maps)."""
    columns = [bulk_format(dump.keys, dump.count, dump.key_size, fmt)]
    if dump.per_cpu:
        header = ["Key", *(f"CPU{c}" for c in range(dump.ncpus))]
        columns += [
            bulk_format(dump.values, dump.count, dump.value_size, fmt, dump.stride,
                        c * dump.slot_size)
            for c in range(dump.ncpus)
        ]  # fmt: skip
    else:
        header = ["Key", "Value"]
        columns.append(bulk_format(dump.values, dump.count, dump.value_size, fmt))
    lines = ["\t".join(header), *("\t".join(row) for row in zip(*columns, strict=True))]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _dump_btf(info: MapInfo, dump: MapDump, as_json: bool) -> bytes:
    import orjson

    from .bpf.btf_render import load_map_btf, render_dump

    btf = load_map_btf(info)
    if btf is None:
        raise DumpError(
            61, "", f"map {info.id}", "has no BTF: use --format hex, string or number"
        )  # ENODATA
    entries = render_dump(btf, info, dump)
    if as_json:
        return orjson.dumps(entries) + b"\n"
    return b"".join(orjson.dumps(entry) + b"\n" for entry in entries)
