"""The fast map-entry path against prometheus_client itself, and the vectorised key/value
helpers against plain Python, on synthetic map dumps (no kernel needed)."""

from __future__ import annotations

import random
import sys

import pytest
from prometheus_client.exposition import generate_latest

from devagent.bpf.info import MapInfo
from devagent.bpf.maps import MapDump
from devagent.metrics.map_export import export_map, first_u64, key_order
from devagent.metrics.render import MapEntryValueFamily, format_values, negotiate, render
from devagent.model.codec import Format, value_as_u64
from devagent.model.etm import parse_rule

ACCEPTS = [
    None,
    "text/plain;version=0.0.4",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "text/plain;version=1.0.0;escaping=dots",
    "application/openmetrics-text;version=1.0.0",
    "application/openmetrics-text;version=0.0.1",
    "application/openmetrics-text;version=1.0.0;escaping=values",
]


def map_info(map_id: int, name: str, map_type: int, key_size: int, value_size: int) -> MapInfo:
    return MapInfo(
        id=map_id, type=map_type, name=name, key_size=key_size, value_size=value_size,
        max_entries=1024, flags=0, ifindex=0, netns_dev=0, netns_ino=0, btf_id=0,
        btf_key_type_id=0, btf_value_type_id=0, btf_vmlinux_value_type_id=0, btf_vmlinux_id=0,
        map_extra=0,
    )  # fmt: skip


def dump(keys: list[bytes], values: list[list[bytes]], value_size: int, per_cpu: bool) -> MapDump:
    ncpus = len(values[0]) if values else 1
    slot = (value_size + 7) & ~7 if per_cpu else value_size
    return MapDump(
        key_size=len(keys[0]) if keys else 4,
        value_size=value_size,
        slot_size=slot,
        ncpus=ncpus,
        count=len(keys),
        keys=b"".join(keys),
        values=b"".join(v.ljust(slot, b"\xaa") for row in values for v in row),
        per_cpu=per_cpu,
    )


def sample_dump(per_cpu: bool, rng: random.Random) -> MapDump:
    keys = [b"ipv4", b'a"b', b"back\\slash", b"new\nline", b"\xff\xfe", b"\xc3\xa9t\xc3\xa9"]
    keys += [bytes(rng.randrange(256) for _ in range(6)) for _ in range(40)]
    keys = list(dict.fromkeys(k.ljust(16, b"\0") for k in keys))
    ncpus = 3 if per_cpu else 1
    values = [
        [rng.randrange(2**64).to_bytes(8, sys.byteorder) if rng.random() < 0.3
         else rng.randrange(2_000_000).to_bytes(8, sys.byteorder) for _ in range(ncpus)]
        for _ in keys
    ]  # fmt: skip
    return dump(keys, values, 8, per_cpu)


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("per_cpu", [False, True])
def test_fast_lines_equal_prometheus_client(accept: str | None, per_cpu: bool) -> None:
    rng = random.Random(7)
    exports = [
        export_map(map_info(7, 'we"ird\\name', 5 if per_cpu else 1, 16, 8),
                   parse_rule("-::string"), sample_dump(per_cpu, rng), 10_000),
        export_map(map_info(9, "AT_x", 5 if per_cpu else 1, 16, 8),
                   parse_rule("-::hex"), sample_dump(per_cpu, rng), 25),
    ]  # fmt: skip
    family = MapEntryValueFamily(exports)
    encoder, content_type = negotiate(accept)

    class One:
        def collect(self):  # type: ignore[no-untyped-def]
            return [family]

    assert render([family], encoder, content_type) == encoder(One())


def test_generate_latest_sees_an_ordinary_gauge() -> None:
    export = export_map(
        map_info(3, "m", 5, 16, 8), parse_rule("-::string"), sample_dump(True, random.Random(1)), 5
    )

    class One:
        def collect(self):  # type: ignore[no-untyped-def]
            return [MapEntryValueFamily([export])]

    text = generate_latest(One()).decode()
    assert "# TYPE devagent_ebpf_map_entry_value gauge\n" in text
    assert text.count("\ndevagent_ebpf_map_entry_value{cpu=") == 5 * 3


@pytest.mark.parametrize(
    "value", [0, 1, 999_999, 1_000_000, 123_456_789, 2**53 + 1, 2**63, 2**64 - 1]
)
def test_values_are_written_like_prometheus_client(value: int) -> None:
    from prometheus_client.utils import floatToGoString

    assert format_values([value]) == [floatToGoString(float(value))]


@pytest.mark.parametrize("key_size", [1, 2, 3, 4, 8, 12, 16, 33])
def test_key_order_is_memcmp_or_numeric(key_size: int) -> None:
    rng = random.Random(key_size)
    keys = list({bytes(rng.randrange(256) for _ in range(key_size)) for _ in range(300)})
    d = dump(keys, [[b"\0" * 8] for _ in keys], 8, False)
    assert [keys[i] for i in key_order(d, numeric=False)] == sorted(keys)
    if key_size <= 8:
        numeric = [keys[i] for i in key_order(d, numeric=True)]
        assert numeric == sorted(keys, key=lambda k: int.from_bytes(k, sys.byteorder))


@pytest.mark.parametrize("value_size", [1, 3, 4, 8, 12])
@pytest.mark.parametrize("per_cpu", [False, True])
def test_first_u64_is_codec_value_as_u64(value_size: int, per_cpu: bool) -> None:
    rng = random.Random(value_size)
    ncpus = 4 if per_cpu else 1
    values = [[bytes(rng.randrange(256) for _ in range(value_size)) for _ in range(ncpus)]
              for _ in range(20)]  # fmt: skip
    keys = [i.to_bytes(4, "little") for i in range(20)]
    d = dump(keys, values, value_size, per_cpu)
    rows = key_order(d, numeric=True)
    got = first_u64(d, rows).tolist()
    assert got == [[value_as_u64(v) for v in values[i]] for i in rows]


def test_string_labels_of_look_alike_keys_stay_apart() -> None:
    """The byte ff and the text \\xff used to write the same label (one then went out as
    0x<hex>); STRING escapes backslashes now, so each key keeps a label of its own."""
    keys = [b"ab\xff".ljust(8, b"\0"), b"ab\\xff".ljust(8, b"\0"), b"zz".ljust(8, b"\0")]
    d = dump(keys, [[bytes(8)] for _ in keys], 8, False)
    export = export_map(map_info(1, "m", 1, 8, 8), parse_rule("-::string"), d, 100)
    assert sorted(export.keys) == ["ab\\\\xff", "ab\\xff", "zz"]
    assert export.renamed == 0 and export.truncated == 0


def test_truncation_keeps_the_first_keys_in_order() -> None:
    keys = [i.to_bytes(4, sys.byteorder) for i in (300, 5, 70000, 1, 2)]
    values = [[i.to_bytes(8, sys.byteorder)] for i in range(5)]
    d = dump(keys, values, 8, False)
    export = export_map(map_info(1, "m", 1, 4, 8), parse_rule("-::number"), d, 3)
    assert export.keys == ["1", "2", "5"]
    assert export.values.tolist() == [[3], [4], [1]]
    assert (export.count, export.truncated) == (5, 2)


def test_label_clash_handling_whatever_the_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force clashes with a formatter that writes every key the same: the first key in order
    keeps the label, the others get 0x<hex>; a key whose 0x<hex> is taken too is left out."""
    import devagent.metrics.map_export as metrics_maps

    keys = [b"\x02\x00", b"\x01\x00", b"\x03\x00"]
    texts = {b"\x01\x00": "same", b"\x02\x00": "same", b"\x03\x00": "0x0200"}

    def clashing(buf: bytes, count: int, size: int, fmt: Format, **_: object) -> list[str]:
        return [texts[bytes(buf[i * size : (i + 1) * size])] for i in range(count)]

    monkeypatch.setattr(metrics_maps, "bulk_format", clashing)
    values = [[i.to_bytes(8, sys.byteorder)] for i in (20, 10, 30)]
    export = export_map(
        map_info(1, "m", 1, 2, 8), parse_rule("-::hex"), dump(keys, values, 8, False), 9
    )
    # Key order (bytes): 01 00 -> "same"; 02 00 -> "same" again, so "0x0200"; 03 00 -> "0x0200"
    # taken by the renamed key, and its own 0x0300 is free.
    assert export.keys == ["same", "0x0200", "0x0300"]
    assert export.values.tolist() == [[10], [20], [30]]
    assert (export.renamed, export.truncated) == (2, 0)

    texts[b"\x03\x00"] = "same"
    texts[b"\x02\x00"] = "0x0300"  # now 03 00 clashes and its 0x0300 is taken as well
    export = export_map(
        map_info(1, "m", 1, 2, 8), parse_rule("-::hex"), dump(keys, values, 8, False), 9
    )
    assert export.keys == ["same", "0x0300"]
    assert export.values.tolist() == [[10], [20]]
    assert (export.renamed, export.truncated) == (0, 1)


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("per_cpu", [False, True])
def test_field_labels_of_btf_keys_parse_like_prometheus_client(
    accept: str | None, per_cpu: bool
) -> None:
    """`key_<field>` labels ride in the key slot of the fast path: parsed back, the samples
    must be those prometheus_client writes from the same export (label order may differ)."""
    import dataclasses

    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as parse_openmetrics,
    )
    from prometheus_client.parser import text_string_to_metric_families as parse_text

    base = export_map(map_info(4, "flows", 5 if per_cpu else 1, 16, 8), parse_rule("-::hex"),
                      sample_dump(per_cpu, random.Random(3)), 10_000)  # fmt: skip
    rows = [(str(i), f'we"ird\\{i}\n', "") for i in range(len(base.keys))]
    export = dataclasses.replace(
        base, field_names=("key_proto", "key_comm", "key_zero"), field_values=rows
    )
    family = MapEntryValueFamily([export])
    encoder, content_type = negotiate(accept)

    class One:
        def collect(self):  # type: ignore[no-untyped-def]
            return [family]

    parse = parse_openmetrics if "openmetrics" in content_type else parse_text

    def parsed(body: bytes) -> set[tuple[tuple[tuple[str, str], ...], float]]:
        return {
            (tuple(sorted(s.labels.items())), s.value)
            for f in parse(body.decode())
            for s in f.samples
        }

    ours, theirs = parsed(render([family], encoder, content_type)), parsed(encoder(One()))
    assert ours == theirs
    assert len(ours) == len(base.keys) * (3 if per_cpu else 1)
    comm = "key__comm" if "escaping=dots" in content_type else "key_comm"
    assert any((comm, 'we"ird\\0\n') in labels for labels, _ in ours)
