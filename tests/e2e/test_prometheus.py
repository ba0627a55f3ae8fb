"""A real Prometheus server (Debian's `prometheus`) scrapes a real `phydev server`.

The exported map is the frozen copy of the fixture's `AT_pkts` (a per-CPU hash with string
keys that a socket filter filled from real loopback packets, then detached): its values no
longer move, so what PromQL returns must equal what bpftool reads, exactly. Prometheus runs
on its own free port on 127.0.0.1 (never 9090) with its own data directory, and is stopped
by PID.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from devagent.model.codec import Format, format_bytes
from tests.conftest import (
    ROOT,
    FrozenCounters,
    PhydevServer,
    bpftool_json,
    kernel_map_entries,
    require_kernel,
)
from tests.e2e.conftest import Placed
from tests.prometheus_server import Prometheus, launch_prometheus

DASHBOARD = ROOT / "dashboards" / "grafana-devagent.json"


@pytest.fixture(scope="module")
def agent(
    frozen_counters: FrozenCounters, placed: tuple[int, list[Placed], Path]
) -> Iterator[PhydevServer]:
    flows = frozen_counters.obj.map_ids["flows"]
    server = PhydevServer("--etm", "-:AT_:string", "--etm", f"{flows}-{flows}:^flows$:BTF",
                          "--metrics-owner-labels", "--host-root", str(placed[2]),
                          bpf_dir=str(frozen_counters.mount.path))  # fmt: skip
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prometheus(agent: PhydevServer) -> Iterator[Prometheus]:
    require_kernel()
    with launch_prometheus([f"127.0.0.1:{agent.port}"]) as prom:
        yield prom


def test_promql_returns_the_kernel_values_of_an_exported_map(
    prometheus: Prometheus, frozen_counters: FrozenCounters
) -> None:
    """The seed demo's end: Prometheus holds one series per key and CPU of the AT_ map, and
    each value equals what bpftool reads from the kernel."""
    map_id = frozen_counters.at_map_id
    kernel = kernel_map_entries(map_id)
    expected = {
        (format_bytes(key, Format.STRING), str(cpu)): float(value)
        for key, values in kernel.items()
        for cpu, value in enumerate(values)
    }
    assert {k for k, _ in expected} >= {"ipv4", "ipv6"}
    promql = f'devagent_ebpf_map_entry_value{{name="AT_pkts",id="{map_id}"}}'
    result = prometheus.wait_for(promql, len(expected))
    got = {(s["metric"]["key"], s["metric"]["cpu"]): float(s["value"][1]) for s in result}
    assert got == expected
    for s in result:
        assert s["metric"]["type"] == "PerCPUHash" and s["metric"]["job"] == "devagent"
    count = prometheus.series(f'devagent_ebpf_map_entry_count{{id="{map_id}"}}')
    assert [float(s["value"][1]) for s in count] == [float(len(kernel))]


def test_struct_key_fields_are_labels_promql_can_aggregate(
    prometheus: Prometheus, frozen_counters: FrozenCounters
) -> None:
    """A flow map exported with a btf rule: each field of its struct key is a label, like
    ebpf_exporter's decoded labels, and each numeric field of its struct value a series
    (label `field`), equal to what bpftool decodes from the kernel."""
    map_id = frozen_counters.obj.map_ids["flows"]
    dump = bpftool_json("map", "dump", "id", str(map_id))
    assert isinstance(dump, list) and dump
    expected: dict[tuple[str, str, str, str], float] = {}
    for entry in dump:
        key = entry["formatted"]["key"]
        for field in ("packets", "bytes"):
            labels = (str(key["proto"]), str(key["len_bucket"]), str(key["pkt_type"]), field)
            expected[labels] = float(entry["formatted"]["value"][field])
    promql = f'devagent_ebpf_map_entry_value{{name="flows",id="{map_id}"}}'
    result = prometheus.wait_for(promql, len(expected))
    got = {
        (s["metric"]["key_proto"], s["metric"]["key_len_bucket"], s["metric"]["key_pkt_type"],
         s["metric"]["field"]): float(s["value"][1])
        for s in result
    }  # fmt: skip
    assert got == expected
    packets = f'devagent_ebpf_map_entry_value{{name="flows",id="{map_id}",field="packets"}}'
    by_proto = prometheus.series(f"sum by (key_proto) ({packets})")
    totals: dict[str, float] = {}
    for (proto, _, _, field), value in expected.items():
        if field == "packets":
            totals[proto] = totals.get(proto, 0.0) + value
    assert {s["metric"]["key_proto"]: float(s["value"][1]) for s in by_proto} == totals


def test_scrapes_are_clean_and_new_metrics_are_stored(prometheus: Prometheus) -> None:
    prometheus.wait_for('up{job="devagent"} == 1', 1)
    for name in ("devagent_ebpf_prog_count", "devagent_ebpf_map_count",
                 "devagent_ebpf_prog_info", "devagent_ebpf_map_max_entries",
                 "devagent_ebpf_stats_enabled", "devagent_ebpf_map_entry_truncated"):  # fmt: skip
        assert prometheus.wait_for(name, 1), name
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/targets", timeout=10) as resp:
        targets = json.load(resp)["data"]["activeTargets"]
    assert [t["lastError"] for t in targets] == [""]
    assert [t["health"] for t in targets] == ["up"]


def test_dashboard_queries_run(prometheus: Prometheus) -> None:
    """Every PromQL expression of the Grafana dashboard is valid and, once Grafana's
    variables are filled in, gives an answer from this Prometheus."""
    dashboard = json.loads(DASHBOARD.read_text())
    prometheus.wait_for("devagent_ebpf_map_entry_value", 1)
    time.sleep(2.5)  # enough samples for rate() over the 5s window below
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 6
    variables = {"$__rate_interval": "5s", "$instance": ".*", "$map": "AT_pkts"}
    for expr in exprs:
        filled = expr
        for name, value in variables.items():
            filled = filled.replace(name, value)
        assert not re.search(r"\$\w", filled), filled
        answer = prometheus.query(filled)
        assert answer["status"] == "success", (expr, answer)
    top = prometheus.series(
        'topk(10, sum by (key) (devagent_ebpf_map_entry_value{name=~"AT_pkts"}))'
    )
    assert {s["metric"]["key"] for s in top} >= {"ipv4", "ipv6"}
    by_type = prometheus.series("sum by (type) (devagent_ebpf_prog_count)")
    assert "SocketFilter" in {s["metric"]["type"] for s in by_type}


def test_dashboard_fill_cpu_events_memlock_panels(
    prometheus: Prometheus, frozen_counters: FrozenCounters
) -> None:
    """The panels on map pressure and program cost are there, and the map fill panel shows
    entries / max_entries of hash-like maps only, as the raw samples give them."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    titles = ("CPU share per program", "Events per second, per node",
              "Map fill (top 10, arrays excluded)", "Map memory (memlock) per node")  # fmt: skip
    for title in titles:
        assert title in panels, title
    prometheus.wait_for("devagent_ebpf_map_entries", 1)
    expr = panels["Map fill (top 10, arrays excluded)"]["targets"][0]["expr"]
    fill = prometheus.series(expr.replace("$instance", ".*"))
    assert 1 <= len(fill) <= 10
    for s in fill:
        assert s["metric"]["type"] not in ("Array", "PerCPUArray")
        assert 0 <= float(s["value"][1]) <= 1
    # The frozen AT_pkts map: its fill through the panel's expression equals the kernel's.
    at_id = frozen_counters.at_map_id
    inner = expr.replace("$instance", ".*").removeprefix("topk(10, ").removesuffix(")")
    at_fill = prometheus.series(f'({inner}) and on (id) devagent_ebpf_map_entries{{id="{at_id}"}}')
    kmap = bpftool_json("map", "show", "id", str(at_id))
    assert isinstance(kmap, dict)
    expected = len(kernel_map_entries(at_id)) / kmap["max_entries"]
    assert [float(s["value"][1]) for s in at_fill] == [pytest.approx(expected)]
    memlock = panels["Map memory (memlock) per node"]["targets"][0]["expr"]
    total = prometheus.series(memlock.replace("$instance", ".*"))
    assert len(total) == 1 and float(total[0]["value"][1]) > 0


def test_owner_info_joins_per_program_series_by_pod(
    prometheus: Prometheus, placed: tuple[int, list[Placed], Path]
) -> None:
    """The README's join: one series per program and pod its owners run in, carrying the
    program's name from the per-program metric (--metrics-owner-labels)."""
    prog_id, procs, _ = placed
    join = (
        "max by (id, pod_namespace, pod_name) (devagent_ebpf_prog_owner_info) "
        "* on(id) group_left(name) devagent_ebpf_prog_runs_total"
    )
    pods = {(p.pod["namespace"] or "", p.pod["name"] or "") for p in procs if p.pod}
    result = prometheus.wait_for(f'{join} and on(id) devagent_ebpf_prog_info{{id="{prog_id}"}}',
                                 len(pods))  # fmt: skip
    got = {(s["metric"].get("pod_namespace", ""), s["metric"].get("pod_name", "")) for s in result}
    assert pods <= got
    assert {s["metric"]["name"] for s in result} == {"inspect_tc"}
