"""Entries that answer questions (issue 22 item 3), on real maps: sorted by value, by a field
of a BTF struct value, by the per-CPU sum; the top N; a key search; per-CPU totals; and
BTF-typed values written back field by field. Each expected order is computed here from
the raw bytes read back from the kernel, independently of the code under test."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devagent.api.entries import EntriesError, EntryPager
from devagent.bpf.maps import MapHandle, create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import get_map, map_info
from devagent.model.btf_encode import BtfEncodeError, encode_json
from devagent.model.btf_entries import load_map_btf
from devagent.model.btf_fields import map_value_fields as value_fields
from devagent.model.btf_render import render
from devagent.model.entry_order import EntryView
from devagent.model.inventory import Inventory
from tests.conftest import BpffsMount, LoadedObject, build_bpf, load_object, require_kernel

NAMES = ["bash", "sshd", "python3", "cron", "nginx", "zsh", "bashful", "ssh-agent"]
FLOW_VAL = struct.Struct("=4i16s?3x4xq")  # counts[4], comm[16], flag, flags[3], pad, delta


@dataclass
class BtfMaps:
    obj: LoadedObject
    ncpus: int

    def info(self, name: str):  # type: ignore[no-untyped-def]
        return get_map(self.obj.map_ids[name])


@pytest.fixture(scope="module")
def btf_maps(build_dir: Path) -> Iterator[BtfMaps]:
    """btf_types.bpf.o loaded in a private bpffs; pcpu_names and flows filled here."""
    require_kernel()
    mount = BpffsMount()
    try:
        obj = load_object(build_bpf("btf_types.bpf.o", build_dir), mount)
        maps = BtfMaps(obj, possible_cpus())
        with MapHandle.open(obj.map_ids["pcpu_names"]) as handle:
            slot = handle.slot_size
            for i, name in enumerate(NAMES):
                cells = b""
                for cpu in range(maps.ncpus):
                    # packets grow with (i * 7 % 8): not key order; bytes grow the other way.
                    packets, nbytes = (i * 7 % 8) * 10 + cpu, 1000 - i * 3 - cpu
                    cells += struct.pack("=QI6s", packets, nbytes, b"x").ljust(slot, b"\0")
                handle.update(name.encode().ljust(12, b"\0"), cells)
        with MapHandle.open(obj.map_ids["flows"]) as handle:
            size = handle.info.value_size
            for i in range(6):
                key = bytes([i]) + bytes(handle.info.key_size - 1)
                value = FLOW_VAL.pack(i, -i, (i * 5) % 6, 0, b"c", False, (3 - i) * 1000)
                handle.update(key, value.ljust(size, b"\0"))
        yield maps
    finally:
        mount.close()


def pager() -> EntryPager:
    return EntryPager(Inventory(max_age=0.0), fresh_age=0.0, schedule=lambda *a: None)


def raw_entries(map_id: int) -> list[tuple[bytes, list[bytes]]]:
    """(key, per-CPU values) of every entry, read with the map's own handle."""
    with MapHandle.open(map_id, read_only=True) as handle:
        dump = handle.read_all()
        return [(dump.key(i), dump.cpu_values(i) if dump.per_cpu else [dump.value(i)])
                for i in range(dump.count)]  # fmt: skip


def test_per_cpu_struct_map_sorted_by_a_field_sum(btf_maps: BtfMaps) -> None:
    info = btf_maps.info("pcpu_names")
    rows = raw_entries(info.id)
    packets = {k.rstrip(b"\0").decode(): sum(struct.unpack_from("=Q", v)[0] for v in vs)
               for k, vs in rows}  # fmt: skip
    want = sorted(packets, key=lambda n: (-packets[n], n.encode()))
    page = pager().page(info, 0, 100, "STRING", "BTF", view=EntryView("packets"))
    assert [e["key"] for e in page] == want
    # total: each numeric field's sum over CPUs (the char array is not a number)
    assert json.loads(page[0]["total"]) == {
        "packets": packets[want[0]],
        "bytes": sum(struct.unpack_from("=I", v, 8)[0] for k, vs in rows
                     if k.rstrip(b"\0").decode() == want[0] for v in vs),
    }  # fmt: skip
    top3 = pager().page(info, 0, 100, "STRING", "HEX", view=EntryView(".packets", False, 3))
    assert [e["key"] for e in top3] == want[:3][::-1]  # the 3 largest, smallest first
    found = pager().page(info, 0, 100, "STRING", "HEX", view=EntryView("bytes", True, None, "SSH"))
    assert sorted(e["key"] for e in found) == ["ssh-agent", "sshd"]
    assert [e["key"] for e in found] == ["sshd", "ssh-agent"]  # bytes fall with the index
    fields = value_fields(info)
    assert fields is not None
    assert [(f.path, f.bits, f.signed) for f in fields] == [("packets", 64, False),
                                                           ("bytes", 32, False)]  # fmt: skip


def test_struct_map_sorted_by_signed_and_array_fields(btf_maps: BtfMaps) -> None:
    info = btf_maps.info("flows")
    rows = raw_entries(info.id)
    vals = [FLOW_VAL.unpack_from(vs[0]) for _, vs in rows]
    order = sorted(range(len(rows)), key=lambda i: (vals[i][6], rows[i][0]))  # delta, then key
    page = pager().page(info, 0, 100, "HEX", "BTF", view=EntryView("delta", False))
    assert [e["key"] for e in page] == [rows[i][0].hex() for i in order]
    assert [json.loads(e["value"])["delta"] for e in page] == sorted(v[6] for v in vals)
    assert any(v[6] < 0 for v in vals)  # negatives sort below zero (signed field)
    by_count = pager().page(info, 0, 2, "HEX", "HEX", view=EntryView("counts[2]"))
    want = sorted(range(len(rows)), key=lambda i: (-vals[i][2], rows[i][0]))[:2]
    assert [e["key"] for e in by_count] == [rows[i][0].hex() for i in want]
    assert by_count[0]["total"] is None  # not a per-CPU map
    with pytest.raises(EntriesError, match="no numeric field of that name"):
        pager().page(info, 0, 10, "HEX", "HEX", view=EntryView("comm"))
    with pytest.raises(EntriesError, match="needs at most 8"):
        pager().page(info, 0, 10, "HEX", "HEX", view=EntryView("value"))


def test_plain_map_sorted_by_value_top_and_search(kernel: None) -> None:
    with create_map(MAP_TYPE_IDS["Hash"], 4, 8, 64, name="t_views") as fd:
        handle = MapHandle(fd, map_info(fd))
        content = {k: (k * 7919) % 1000 for k in range(1, 41)}
        for k, v in content.items():
            handle.update(struct.pack("<I", k), struct.pack("<Q", v))
        info = handle.info
        p = pager()
        page = p.page(info, 0, 40, "NUMBER", "NUMBER", view=EntryView("value"))
        assert [int(e["key"]) for e in page] == sorted(content, key=lambda k: (-content[k], k))
        asc = p.page(info, 0, 40, "NUMBER", "NUMBER", view=EntryView("value", False))
        assert [int(e["value"]) for e in asc] == sorted(content.values())
        top = p.page(info, 2, 3, "NUMBER", "NUMBER", view=EntryView("value", None, 5))
        assert [int(e["value"]) for e in top] == sorted(content.values(), reverse=True)[2:5]
        hits = p.page(info, 0, 40, "NUMBER", "NUMBER", view=EntryView("key", None, None, "3"))
        assert [int(e["key"]) for e in hits] == sorted(k for k in content if "3" in str(k))
        with pytest.raises(EntriesError, match="no BTF type for its values"):
            p.page(info, 0, 1, "NUMBER", "NUMBER", view=EntryView("packets"))


def test_per_cpu_totals_without_btf(kernel: None) -> None:
    ncpus = possible_cpus()
    with create_map(MAP_TYPE_IDS["PerCPUHash"], 4, 8, 16, name="t_vtotal") as fd:
        handle = MapHandle(fd, map_info(fd))
        sums = {}
        for k in range(1, 9):
            cells = [(k * 13 % 9) + 100 * c for c in range(ncpus)]
            sums[k] = sum(cells)
            handle.update(struct.pack("<I", k), b"".join(struct.pack("<Q", c) for c in cells))
        page = pager().page(handle.info, 0, 5, "NUMBER", "NUMBER", view=EntryView("sum"))
        assert [int(e["key"]) for e in page] == sorted(sums, key=lambda k: (-sums[k], k))[:5]
        assert [int(e["total"]) for e in page] == sorted(sums.values(), reverse=True)[:5]
        assert all(int(e["total"]) == sum(map(int, e["cpuValues"])) for e in page)


def test_btf_values_are_written_field_by_field(btf_maps: BtfMaps) -> None:
    info = btf_maps.info("flows")
    btf = load_map_btf(info)
    assert btf is not None
    key, (before,) = raw_entries(info.id)[0]
    data = encode_json(btf, info.btf_value_type_id, '{"delta": -42, "counts": [7]}', before)
    shown = render(btf, info.btf_value_type_id, data)
    old = render(btf, info.btf_value_type_id, before)
    assert isinstance(shown, dict) and isinstance(old, dict)
    assert shown["delta"] == -42 and shown["counts"] == [7, *old["counts"][1:]]
    assert {k: v for k, v in shown.items() if k not in ("delta", "counts")} == {
        k: v for k, v in old.items() if k not in ("delta", "counts")
    }
    for text, says in [('{"s8": 200}', "does not fit in 8 signed bits"),
                       ('{"nope": 1}', "no field 'nope'"), ('{"delta": "x"}', "an integer"),
                       ('{"comm": "' + "x" * 17 + '"}', "do not fit in char[16]")]:  # fmt: skip
        with pytest.raises(BtfEncodeError, match=re.escape(says)):
            encode_json(btf, info.btf_value_type_id, text, before)
    with MapHandle.open(info.id) as handle:
        handle.update(key, data)
        assert handle.lookup(key) == data
