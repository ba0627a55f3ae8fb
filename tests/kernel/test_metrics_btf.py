"""`--etm ...:btf`: map keys decoded by their BTF type become labels, checked against what
`bpftool -j map dump` prints under "formatted" for the same kernel objects.

The maps are those of tests/bpf/btf_types.bpf.c (the `loaded` fixture of test_btf.py): a
struct key with nested structs, char arrays, enums, bitfields and anonymous union/struct
members; a char[12] per-CPU key; a plain __u32 key. Only the tests write to them.
"""

from __future__ import annotations

import json
import logging
import sys

import pytest

from devagent.bpf.maps import create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from tests.kernel.test_btf import Loaded, bpftool
from tests.kernel.test_btf import loaded as loaded  # the fixture, re-exported
from tests.kernel.test_metrics import exporter, samples, scrape

ENTRY_VALUE = "devagent_ebpf_map_entry_value"


def expected_text(value: object) -> str:
    """The label text the README promises for a decoded value (written independently of
    devagent.metrics.btf_keys)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def expected_fields(key: dict[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in key.items():
        if name == "":  # anonymous member: its fields are lifted
            assert isinstance(value, dict)
            out.update(expected_fields(value))
        else:
            out[f"key_{name}"] = expected_text(value)
    return out


# Fields bpftool shows that are not numbers to export: text, addresses, 128-bit ints.
NOT_NUMBERS = ("comm", "grid", "ptr", "cptr", "big", "sbig")


def numeric_fields(value: object, path: str = "") -> list[tuple[str, float]]:
    """(C path, number) of each numeric field in bpftool's decoded struct (written
    independently of devagent.model.btf_fields): bools as 0/1, strings skipped."""
    out: list[tuple[str, float]] = []
    if isinstance(value, dict):
        for name, inner in value.items():
            if not path and name in NOT_NUMBERS:
                continue
            out += numeric_fields(inner, f"{path}.{name}" if path else name)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += numeric_fields(inner, f"{path}[{i}]")
    elif isinstance(value, bool | int):
        out.append((path, float(value)))
    return out


def map_samples(text: str, map_id: int) -> list[dict[str, str | float]]:
    out: list[dict[str, str | float]] = []
    for labels, value in samples(text).get(ENTRY_VALUE, {}).items():
        d: dict[str, str | float] = dict(labels)
        if d["id"] == str(map_id):
            d["value"] = value
            out.append(d)
    return out


def only(map_id: int, name: str) -> str:
    return f"{map_id}-{map_id}:^{name}$:btf"


@pytest.mark.parametrize("accept", [None, "application/openmetrics-text;version=1.0.0"])
def test_struct_key_fields_become_labels(loaded: Loaded, accept: str | None) -> None:
    map_id = loaded.ids["flows"]
    dump = json.loads(bpftool("-j", "map", "dump", "id", str(map_id)))
    assert len(dump) == 15
    text, _ = scrape(exporter(only(map_id, "flows")), accept)
    got = map_samples(text, map_id)
    assert len({str(s["key"]) for s in got}) == len(dump)
    by_key = {json.dumps(json.loads(str(s["key"])), sort_keys=True): s for s in got}
    for entry in dump:
        key = entry["formatted"]["key"]
        sample = by_key[json.dumps(key, sort_keys=True)]
        fields = {k: v for k, v in sample.items() if k.startswith("key_")}
        # bpftool's JSON keeps only the last anonymous member (the struct of lo16/hi16): the
        # anonymous union before it (addr4/bytes at offset 28) is read from the raw key.
        want = expected_fields(key)
        union = bytes(int(c, 16) for c in entry["key"])[28:32]
        want["key_addr4"] = str(int.from_bytes(union, sys.byteorder))
        want["key_bytes"] = json.dumps(list(union), separators=(",", ":"))
        assert fields == want
        assert sample["cpu"] == "" and sample["type"] == "Hash" and sample["name"] == "flows"
    # The value, a struct: one sample per numeric field (a `field` label), each equal to
    # bpftool's decoded field; no sample for strings, pointers, 128-bit ints or padding.
    values = {
        (json.dumps(json.loads(str(s["key"])), sort_keys=True), s["field"]): s["value"] for s in got
    }
    want_values = {
        (json.dumps(e["formatted"]["key"], sort_keys=True), path): float(number)
        for e in dump
        for path, number in numeric_fields(e["formatted"]["value"])
    }
    assert values == want_values
    assert {f for _, f in values} >= {"counts[3]", "delta", "flag", "flags[2]", "s8", "uc[0]",
                                      "inners[1].port", "inners[0].delta"}  # fmt: skip
    assert not {f for _, f in values} & {"comm", "ptr", "cptr", "big", "sbig", "grid[0][0]"}
    some = got[0]
    assert {"key_addr4", "key_bytes", "key_lo16", "key_hi16", "key_in", "key_bits"} <= set(some)
    assert json.loads(str(some["key_in"])).keys() == {"port", "delta", "tag"}


def test_string_and_scalar_keys(loaded: Loaded) -> None:
    names, colors = loaded.ids["pcpu_names"], loaded.ids["colors"]
    text, _ = scrape(exporter(only(names, "pcpu_names"), only(colors, "colors")))
    dump = json.loads(bpftool("-j", "map", "dump", "id", str(names)))
    got = {(s["key"], s["cpu"], s["field"]): s["value"] for s in map_samples(text, names)}
    want = {
        (expected_text(e["formatted"]["key"]), str(v["cpu"]), name): float(v["value"][name])
        for e in dump
        for v in e["formatted"]["values"]
        for name in ("packets", "bytes")  # struct pcpu_val's numbers (not char last[6])
    }
    assert got == want and ("sshd", "0", "packets") in got
    assert not any(k.startswith("key_") for s in map_samples(text, names) for k in s)
    colors_got = {s["key"]: s["value"] for s in map_samples(text, colors)}  # no struct: as before
    assert not any("field" in s for s in map_samples(text, colors))
    assert colors_got == {"0": 0.0, "1": 5.0, "2": 99.0}  # an array: every index exists


def test_map_without_btf_falls_back_to_hex_with_a_warning(
    kernel: None, caplog: pytest.LogCaptureFixture
) -> None:
    with create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name="mt_nobtf") as fd:
        info = map_info(fd)
        from devagent.bpf.maps import MapHandle

        with MapHandle.open(info.id) as h:
            h.update(b"\x01\x02\x03\x04", (9).to_bytes(8, sys.byteorder))
        exp = exporter(only(info.id, "mt_nobtf"))
        with caplog.at_level(logging.WARNING, logger="devagent.metrics"):
            first, _ = scrape(exp)
            second, _ = scrape(exp)
        assert [(s["key"], s["value"]) for s in map_samples(first, info.id)] == [("01020304", 9.0)]
        assert map_samples(second, info.id) == map_samples(first, info.id)
        warnings = [r.getMessage() for r in caplog.records if "mt_nobtf" in r.getMessage()]
        assert len(warnings) == 1 and "no BTF type for its keys" in warnings[0]
        assert "exporting its keys as hex" in warnings[0]
