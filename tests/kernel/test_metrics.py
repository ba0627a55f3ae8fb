"""The /metrics exposition, parsed back and compared with what bpftool reads from the kernel.

The exporter runs in-process here (MetricsExporter.render, as the server calls it) over an
Inventory that never caches (max_age=0), so every render is a fresh kernel walk. Maps whose
values must match exactly are made by the test and touched by no program; the fixture's
counters, which loopback traffic moves, are compared within bpftool readings taken before
and after the scrape.
"""

from __future__ import annotations

import gc
import logging
import shutil
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map, possible_cpus
from devagent.bpf.objects import get_program, map_info
from devagent.bpf.progs import load_program, return_imm
from devagent.metrics import MetricsExporter
from devagent.model.codec import Format, format_bytes
from devagent.model.etm import parse_rules
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.conftest import (
    PacketFixture,
    bpftool_json,
    kernel_map_entries,
    lacks,
    require_kernel,
)

CONTRACT = {
    "devagent_ebpf_prog_count": ("Number of eBPF programs", ["type"]),
    "devagent_ebpf_prog_run_count": (
        "Number of times an eBPF program has been run", ["id", "type", "tag", "name"]),
    "devagent_ebpf_prog_run_time": (
        "Total time spent running eBPF programs", ["id", "type", "tag", "name"]),
    "devagent_ebpf_map_count": ("Number of eBPF maps", ["type"]),
    "devagent_ebpf_map_entry_count": ("Number of entries in an eBPF map", ["id", "name", "type"]),
    "devagent_ebpf_map_entry_value": (
        "Value of an eBPF map entry", ["id", "name", "type", "key", "cpu"]),
}  # fmt: skip
OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
NCPUS = possible_cpus()  # per-CPU values: one per possible CPU, however many are online
LAST_CPU = str(NCPUS - 1)

Series = dict[tuple[tuple[str, str], ...], float]


def u64(value: int) -> bytes:
    return value.to_bytes(8, sys.byteorder)


@dataclass
class OwnMap:
    """A map made by the test: only the test writes to it, so its values are fixed."""

    name: str
    fd: Fd
    handle: MapHandle

    @property
    def id(self) -> int:
        return self.handle.info.id

    def close(self) -> None:
        self.fd.close()


def make_map(map_type: int, key_size: int, value_size: int, max_entries: int, name: str) -> OwnMap:
    fd = create_map(map_type, key_size, value_size, max_entries, name=name)
    return OwnMap(name, fd, MapHandle(fd, map_info(fd)))


@dataclass
class OwnMaps:
    strings: OwnMap  # PerCPUHash, char[16] keys, u64 values
    numbers: OwnMap  # Hash, u32 keys, u64 values
    structs: OwnMap  # Hash, 8-byte keys, 16-byte values
    short: OwnMap  # PerCPUArray, u32 keys, 4-byte values (zero-padded to 8)
    many: OwnMap  # Hash, u32 keys 0..49


STRING_KEYS = [
    b"alpha",
    b"beta",
    b"with space",
    b"ab\xff",
    b"ab\\xff",
    b'q"\\\n',
    b"\xc3\xa9t\xc3\xa9",
]
NUMBER_KEYS = [70000, 1, 4294967295, 256, 2]


@pytest.fixture(scope="module")
def own_maps() -> Iterator[OwnMaps]:
    require_kernel()
    maps = OwnMaps(
        strings=make_map(5, 16, 8, 64, "mt_strings"),
        numbers=make_map(1, 4, 8, 64, "mt_numbers"),
        structs=make_map(1, 8, 16, 64, "mt_structs"),
        short=make_map(6, 4, 4, 3, "mt_short"),
        many=make_map(1, 4, 8, 64, "mt_many"),
    )
    try:
        for i, key in enumerate(STRING_KEYS):
            values = b"".join(u64(1000 * i + cpu) for cpu in range(NCPUS))
            maps.strings.handle.update(key.ljust(16, b"\0"), values)
        for key in NUMBER_KEYS:
            maps.numbers.handle.update(key.to_bytes(4, sys.byteorder), u64(key * 3))
        for i in range(4):
            key = bytes([i, 0xAB, 0, 0xFF, 0, 0, 7, i])
            maps.structs.handle.update(key, u64(2**63 + i) + b"\xee" * 8)
        for i in range(3):
            cells = b"".join((10 * i + cpu).to_bytes(4, sys.byteorder) + b"\xff" * 4
                             for cpu in range(NCPUS))  # fmt: skip
            maps.short.handle.update(i.to_bytes(4, sys.byteorder), cells)
        for i in range(50):
            maps.many.handle.update(i.to_bytes(4, sys.byteorder), u64(i))
        yield maps
    finally:
        for m in (maps.strings, maps.numbers, maps.structs, maps.short, maps.many):
            m.close()


def exporter(
    *rules: str, max_entries: int = 10_000, bpf_dir: str = "/sys/fs/bpf"
) -> MetricsExporter:
    settings = Settings(bpf_dir=bpf_dir, etm_rules=parse_rules(rules), etm_max_entries=max_entries)
    return MetricsExporter(settings, Inventory(bpf_dir, max_age=0))


def scrape(exp: MetricsExporter, accept: str | None = None) -> tuple[str, str]:
    body, content_type = exp.render(accept)
    return body.decode("utf-8"), content_type  # strict: label values are valid UTF-8


def samples(text: str, openmetrics: bool = False) -> dict[str, Series]:
    """sample name -> {sorted label pairs: value}; fails on a duplicate series."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    out: dict[str, Series] = {}
    for family in parse(text):
        for s in family.samples:
            series = out.setdefault(s.name, {})
            labels = tuple(sorted(s.labels.items()))
            assert labels not in series, f"duplicate series {s.name}{labels}"
            series[labels] = s.value
    return out


def entry_series(text: str, map_id: int) -> dict[tuple[str, str], float]:
    """(key, cpu) -> value of one map's devagent_ebpf_map_entry_value samples."""
    out: dict[tuple[str, str], float] = {}
    for labels, value in samples(text).get("devagent_ebpf_map_entry_value", {}).items():
        d = dict(labels)
        if d["id"] == str(map_id):
            out[(d["key"], d["cpu"])] = value
    return out


def entry_lines(text: str, map_id: int) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith("devagent_ebpf_map_entry_value{") and f',id="{map_id}",' in line
    ]


def expected_series(map_id: int, fmt: Format, per_cpu: bool) -> dict[tuple[str, str], float]:
    """What the exporter must say about a map, computed from bpftool's dump of it: labels in
    the codec's format, duplicates (first in key order wins) renamed to 0x<hex>."""
    out: dict[tuple[str, str], float] = {}
    seen: set[str] = set()
    entries = kernel_map_entries(map_id)
    for key in sorted(entries):
        label = format_bytes(key, fmt)
        if label in seen:
            label = "0x" + key.hex()
        seen.add(label)
        for cpu, value in enumerate(entries[key]):
            out[(label, str(cpu) if per_cpu else "")] = float(value)
    return out


# ---------------------------------------------------------------- the contract's shape


@pytest.mark.parametrize("accept", [None, OPENMETRICS])
def test_six_metrics_have_exact_help_type_and_labels(
    own_maps: OwnMaps, packet_fixture: PacketFixture, accept: str | None
) -> None:
    exp = exporter(f"{own_maps.numbers.id}-{own_maps.numbers.id}:^mt_numbers$:number")
    text, content_type = scrape(exp, accept)
    om = accept is not None
    assert content_type.startswith("application/openmetrics-text" if om else "text/plain")
    assert text.endswith("# EOF\n") == om
    for name, (help_text, labels) in CONTRACT.items():
        assert f"# HELP {name} {help_text}\n# TYPE {name} gauge\n" in text, name
        series = samples(text, om)[name]
        assert series, name
        for label_pairs in series:
            assert sorted(k for k, _ in label_pairs) == sorted(labels), (name, label_pairs)


def test_plain_text_is_the_default_and_openmetrics_is_negotiated(own_maps: OwnMaps) -> None:
    exp = exporter()
    assert scrape(exp, None)[1] == "text/plain; version=0.0.4; charset=utf-8"
    assert scrape(exp, "text/plain")[1] == "text/plain; version=0.0.4; charset=utf-8"
    assert scrape(exp, "*/*")[1] == "text/plain; version=0.0.4; charset=utf-8"
    assert scrape(exp, OPENMETRICS)[1].startswith("application/openmetrics-text; version=1.0.0")


# ---------------------------------------------------------------- map entries, exact


def test_string_keys_per_cpu_equal_the_kernel(own_maps: OwnMaps) -> None:
    m = own_maps.strings
    text, _ = scrape(exporter(f"-:^{m.name}$:STRING"))
    got = entry_series(text, m.id)
    assert got == expected_series(m.id, Format.STRING, per_cpu=True)
    assert {cpu for _, cpu in got} == {str(c) for c in range(NCPUS)}
    assert ("alpha", "0") in got and ("with space", LAST_CPU) in got and ("été", "0") in got
    # The key q " \ newline: STRING shows the backslash as \\, Prometheus escapes " \ newline.
    assert (
        f'{{cpu="0",id="{m.id}",key="q\\"\\\\\\\\\\n",name="mt_strings",type="PerCPUHash"}}' in text
    )
    assert samples(text)["devagent_ebpf_map_entry_count"][
        (("id", str(m.id)), ("name", m.name), ("type", "PerCPUHash"))
    ] == len(STRING_KEYS)


def test_undecodable_and_clashing_string_keys_stay_unique_and_utf8(own_maps: OwnMaps) -> None:
    """b"ab\\xff" (a raw 0xff) and b"ab\\\\xff" (a backslash, x, f, f) read the same as text:
    the first in byte order keeps the label, the other is exported as 0x<hex>."""
    m = own_maps.strings
    text, _ = scrape(exporter(f"-:^{m.name}$:string"))
    keys = {k for k, _ in entry_series(text, m.id)}
    raw, literal = b"ab\xff".ljust(16, b"\0"), b"ab\\xff".ljust(16, b"\0")
    assert len(keys) == len(STRING_KEYS)
    if format_bytes(raw, Format.STRING) != format_bytes(literal, Format.STRING):
        # The codec tells them apart (it escapes backslashes too): nothing clashes.
        assert {format_bytes(raw, Format.STRING), format_bytes(literal, Format.STRING)} <= keys
        return
    first, second = sorted([raw, literal])
    assert format_bytes(first, Format.STRING) in keys
    assert "0x" + second.hex() in keys


def test_number_keys_in_numeric_order(own_maps: OwnMaps) -> None:
    m = own_maps.numbers
    text, _ = scrape(exporter(f"{m.id}-{m.id}:mt_num:number"))
    assert entry_series(text, m.id) == expected_series(m.id, Format.NUMBER, per_cpu=False)
    order = [line.split('key="')[1].split('"')[0] for line in entry_lines(text, m.id)]
    assert order == [str(k) for k in sorted(NUMBER_KEYS)]
    assert all('cpu=""' in line for line in entry_lines(text, m.id))


def test_hex_keys_and_values_wider_than_8_bytes(own_maps: OwnMaps) -> None:
    m = own_maps.structs
    text, _ = scrape(exporter(f"-{m.id}:^mt_structs$:hex"))
    got = entry_series(text, m.id)
    assert got == expected_series(m.id, Format.HEX, per_cpu=False)
    assert got[("00ab00ff00000700", "")] == float(2**63)
    order = [line.split('key="')[1].split('"')[0] for line in entry_lines(text, m.id)]
    assert order == sorted(order)


def test_short_per_cpu_values_are_zero_padded(own_maps: OwnMaps) -> None:
    m = own_maps.short
    text, _ = scrape(exporter(f"{m.id}-:^mt_short$:number"))
    got = entry_series(text, m.id)
    assert got == expected_series(m.id, Format.NUMBER, per_cpu=True)
    # The 4 bytes of value 20 + cpu, not the 0xff padding after.
    assert got[("2", LAST_CPU)] == 20.0 + NCPUS - 1


def test_first_matching_rule_wins_and_unmatched_maps_are_not_exported(own_maps: OwnMaps) -> None:
    n, s = own_maps.numbers, own_maps.strings
    text, _ = scrape(exporter(f"-:^{n.name}$:hex", "-:^mt_:number", "-:.+:string"))
    assert ("01000000", "") in entry_series(text, n.id)  # hex, from the first rule
    assert ("alpha", "0") not in entry_series(text, s.id)  # number, from the second
    text, _ = scrape(exporter(f"{n.id + 10_000}-:^mt_:hex"))
    assert entry_series(text, n.id) == {}
    assert "devagent_ebpf_map_entry_value" not in text


# ---------------------------------------------------------------- bounded cost


def test_truncation_exports_first_entries_in_key_order_and_says_so(
    own_maps: OwnMaps, caplog: pytest.LogCaptureFixture
) -> None:
    m = own_maps.many
    exp = exporter(f"-:^{m.name}$:number", max_entries=10)
    labels = (("id", str(m.id)), ("name", m.name), ("type", "Hash"))
    with caplog.at_level(logging.WARNING, logger="devagent.metrics"):
        for _ in range(3):
            text, _ = scrape(exp)
            assert entry_series(text, m.id) == {(str(i), ""): float(i) for i in range(10)}
            parsed = samples(text)
            assert parsed["devagent_ebpf_map_entry_truncated"][labels] == 40
            assert parsed["devagent_ebpf_map_entry_count"][labels] == 50
    warnings = [r for r in caplog.records if f"map {m.id} (mt_many)" in r.getMessage()]
    assert len(warnings) == 1, "warned once, not on every scrape"
    assert "first 10 in key order" in warnings[0].getMessage()
    text, _ = scrape(exporter(f"-:^{m.name}$:number"))
    assert samples(text)["devagent_ebpf_map_entry_truncated"][labels] == 0


# ---------------------------------------------------------------- the fixture's real traffic


def test_seed_demo_at_map_with_live_traffic(packet_fixture: PacketFixture) -> None:
    """`--etm -:AT_:string` on a per-CPU hash the socket filter fills: one series per key and
    CPU, each between bpftool's readings before and after the scrape."""
    map_id = packet_fixture.obj.map_ids["AT_pkts"]
    exp = exporter("-:AT_:string", bpf_dir=packet_fixture.bpf_dir)
    packet_fixture.pump(10)
    before = kernel_map_entries(map_id)
    text, _ = scrape(exp)
    after = kernel_map_entries(map_id)
    got = entry_series(text, map_id)
    assert ("ipv4", "0") in got
    for key, values in after.items():
        label = format_bytes(key, Format.STRING)
        for cpu, high in enumerate(values):
            low = before.get(key, [0] * len(values))[cpu]
            assert low <= got[(label, str(cpu))] <= high, (label, cpu)
    assert {k for k, _ in got} <= {format_bytes(k, Format.STRING) for k in after}


def test_program_metrics_match_bpftool(packet_fixture: PacketFixture) -> None:
    prog_id = packet_fixture.obj.prog_ids["count_packets"]
    packet_fixture.pump(5)
    before = bpftool_json("prog", "show", "id", str(prog_id))
    text, _ = scrape(exporter())
    after = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(before, dict) and isinstance(after, dict)
    parsed = samples(text)
    labels = (("id", str(prog_id)), ("name", "count_packets"), ("tag", after["tag"]),
              ("type", "SocketFilter"))  # fmt: skip
    runs = parsed["devagent_ebpf_prog_run_count"][labels]
    assert before["run_cnt"] <= runs <= after["run_cnt"] and runs > 0
    seconds = parsed["devagent_ebpf_prog_run_time"][labels]
    assert before["run_time_ns"] / 1e9 <= seconds <= after["run_time_ns"] / 1e9
    assert parsed["devagent_ebpf_prog_runs_total"][labels] >= runs
    assert parsed["devagent_ebpf_prog_jited_bytes"][labels] == after["bytes_jited"]
    assert parsed["devagent_ebpf_prog_xlated_bytes"][labels] == after["bytes_xlated"]
    # bpftool 7.1 does not print verified_insns: compare with the bpf layer's reading. A
    # kernel without the field (before 5.16) gets no family, never a made-up 0.
    if lacks("verified_insns"):
        assert "devagent_ebpf_prog_verified_insns" not in parsed
        assert "devagent_ebpf_prog_recursion_misses_total" not in parsed
    else:
        verified = parsed["devagent_ebpf_prog_verified_insns"][labels]
        assert verified == get_program(prog_id).verified_insns > 0
    assert abs(parsed["devagent_ebpf_prog_load_timestamp_seconds"][labels] - after["loaded_at"]) < 2
    info = dict(labels) | {"uid": str(after["uid"]), "btf_id": str(after["btf_id"]),
                           "gpl_compatible": "true"}  # fmt: skip
    assert parsed["devagent_ebpf_prog_info"][tuple(sorted(info.items()))] == 1
    # Per-type counts agree with the per-program series of the same scrape.
    per_type: dict[str, int] = {}
    for series in parsed["devagent_ebpf_prog_run_count"]:
        t = dict(series)["type"]
        per_type[t] = per_type.get(t, 0) + 1
    assert {dict(k)["type"]: v for k, v in parsed["devagent_ebpf_prog_count"].items()} == per_type
    assert per_type["SocketFilter"] >= 2


def test_map_metrics_match_bpftool(own_maps: OwnMaps, packet_fixture: PacketFixture) -> None:
    text, _ = scrape(exporter())
    parsed = samples(text)
    for m in (own_maps.strings, own_maps.short):
        shown = bpftool_json("map", "show", "id", str(m.id))
        assert isinstance(shown, dict)
        labels = (("id", str(m.id)), ("name", m.name), ("type", m.handle.info.type_name))
        assert parsed["devagent_ebpf_map_max_entries"][labels] == shown["max_entries"]
        assert parsed["devagent_ebpf_map_key_bytes"][labels] == shown["bytes_key"]
        assert parsed["devagent_ebpf_map_value_bytes"][labels] == shown["bytes_value"]
        assert parsed["devagent_ebpf_map_memlock_bytes"][labels] == shown["bytes_memlock"]
    per_type: dict[str, int] = {}
    for series in parsed["devagent_ebpf_map_max_entries"]:
        per_type[dict(series)["type"]] = per_type.get(dict(series)["type"], 0) + 1
    assert {dict(k)["type"]: v for k, v in parsed["devagent_ebpf_map_count"].items()} == per_type
    assert per_type["PerCPUHash"] >= 2


def test_stats_enabled_metric_sees_a_held_stats_fd(packet_fixture: PacketFixture) -> None:
    """The session holds a BPF_ENABLE_STATS fd (conftest), whatever the sysctl says."""
    text, _ = scrape(exporter())
    assert samples(text)["devagent_ebpf_stats_enabled"][()] == 1


# ---------------------------------------------------------------- freshness and sharing


def _wait_absent(exp: MetricsExporter, needle: str, timeout: float = 5.0) -> str:
    """Scrape until `needle` is gone (the kernel frees objects after an RCU grace period)."""
    deadline = time.monotonic() + timeout
    while True:
        text, _ = scrape(exp)
        if needle not in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_objects_vanish_between_scrapes(kernel: None) -> None:
    m = make_map(5, 16, 8, 4, "mt_vanish")
    m.handle.update(b"gone".ljust(16, b"\0"), u64(7) * NCPUS)
    prog = load_program(1, return_imm(0), name="mt_vanish_prog")
    prog_id = int(bpftool_json("prog", "show", "name", "mt_vanish_prog")["id"])  # type: ignore[index]
    exp = exporter("-:^mt_vanish$:string")
    text, _ = scrape(exp)
    assert f'id="{m.id}",key="gone"' in text
    assert f'id="{prog_id}",name="mt_vanish_prog"' in text
    # Map and program ids are separate namespaces: look for the id with the object's name.
    map_series = f'id="{m.id}",name="mt_vanish"'
    prog_series = f'id="{prog_id}",name="mt_vanish_prog"'
    assert map_series in text and prog_series in text
    m.close()
    prog.close()
    text = _wait_absent(exp, map_series)
    text = _wait_absent(exp, prog_series)
    assert map_series not in text
    assert prog_series not in text
    assert "mt_vanish" not in text


def test_concurrent_scrapes_share_one_kernel_walk_and_one_render(own_maps: OwnMaps) -> None:
    settings = Settings(etm_rules=parse_rules(["-:^mt_:number"]))
    inventory = Inventory(max_age=30)
    exp = MetricsExporter(settings, inventory)
    bodies: list[bytes] = []
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        bodies.append(exp.render(None)[0])

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(bodies) == 8 and len(set(bodies)) == 1
    assert inventory.walks == 1
    assert exp.renders == 1


def test_an_idle_exporter_lets_go_of_its_body_and_map_reads(own_maps: OwnMaps) -> None:
    """Nothing polls the kernel, but what a scrape built is released once it can no longer be
    served: the shared body and the --etm map reads, one max age after the scrape."""
    now = [100.0]
    scheduled: list[tuple[float, Callable[[], None]]] = []
    inventory = Inventory(max_age=1.0, clock=lambda: now[0])
    settings = Settings(etm_rules=parse_rules([f"-:^{own_maps.many.name}$:number"]))
    exp = MetricsExporter(settings, inventory, schedule=lambda *a: scheduled.append(a))
    body, _ = exp.render(None)
    assert f'name="{own_maps.many.name}"'.encode() in body
    assert exp.cached_body_size == len(body)
    read = weakref.ref(inventory.map_dump(own_maps.many.id))  # the scrape's cached read
    assert [delay for delay, _ in scheduled] == [1.0]
    now[0] += 1.5
    newer, _ = exp.render(None)  # a newer snapshot's scrape: the old timer must not drop it
    scheduled[0][1]()
    assert exp.cached_body_size == len(newer)
    now[0] += 1.5
    scheduled[1][1]()
    gc.collect()
    assert exp.cached_body_size == 0
    assert read() is None, "the --etm map read is still held"
    again = entry_series(exp.render(None)[0].decode(), own_maps.many.id)
    assert again == entry_series(body.decode(), own_maps.many.id) and len(again) == 50
    assert exp.renders == 3


def test_registry_collect_gives_the_same_samples(own_maps: OwnMaps) -> None:
    """The Collector is an ordinary prometheus_client collector: generate_latest over the
    exporter's registry gives the same series as the fast render."""
    from prometheus_client.exposition import generate_latest

    m = own_maps.strings
    exp = exporter(f"-:^{m.name}$:string")
    fast = entry_series(scrape(exp)[0], m.id)
    slow = entry_series(generate_latest(exp.registry).decode(), m.id)
    assert fast == slow and fast


@pytest.mark.parametrize(
    "accept",
    [None, "text/plain;version=1.0.0;escaping=dots", OPENMETRICS,
     "application/openmetrics-text;version=1.0.0;escaping=values"],
)  # fmt: skip
def test_fast_render_is_byte_for_byte_the_encoders(
    own_maps: OwnMaps, packet_fixture: PacketFixture, accept: str | None
) -> None:
    """Every family of a real snapshot, rendered from templates, equals what the encoder
    prometheus_client picks for that Accept header writes for the same families."""
    from devagent.metrics.render import negotiate, render

    exp = exporter("-:^mt_:string", "-:AT_:string", bpf_dir=packet_fixture.bpf_dir)
    families = exp.collector.families(exp.inventory.snapshot())
    assert sum(len(f.samples) for f in families) > 100
    encoder, content_type = negotiate(accept)

    class All:
        def collect(self):  # type: ignore[no-untyped-def]
            return families

    assert render(families, encoder, content_type) == encoder(All())


# ---------------------------------------------------------------- promtool


def test_promtool_finds_no_problem_in_new_metrics(
    own_maps: OwnMaps, packet_fixture: PacketFixture
) -> None:
    """`promtool check metrics` lints the whole exposition; the only complaints allowed are
    about the six contract names, which the Go agent fixed before these rules existed."""
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: install Debian's prometheus package")
    exp = exporter("-:^mt_:string", "-:AT_:string", max_entries=2, bpf_dir=packet_fixture.bpf_dir)
    text, _ = scrape(exp)
    for name in ("devagent_ebpf_map_entry_truncated", "devagent_ebpf_prog_info",
                 "devagent_ebpf_prog_runs_total", "devagent_ebpf_map_memlock_bytes",
                 "devagent_ebpf_stats_enabled"):  # fmt: skip
        assert f"\n{name}{{" in text or f"\n{name} " in text, name
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    offenders = {line.split()[0] for line in problems}
    assert offenders <= set(CONTRACT), problems
