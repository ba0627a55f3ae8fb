"""The fleet at scale: a real Prometheus scraping many agents, and the fleet page's questions.

One real agent on this host (with `programs` programs and maps loaded) is recorded once; then
bench/fleet_targets.py serves that answer from `nodes` ports, each with its own node label and
counters moving at its own pace, as a fleet of that many nodes would. Prometheus scrapes them
with deploy/prometheus/rules.yml loaded (the fleet rules included), and a viewer agent started
with --prometheus answers Query.fleet: what the /ui/fleet page asks, timed as the page asks it
(each poll of the page: nodes, top programs, fullest maps, the hour's CPU chart).

Measured: each question's p50/p99, one page poll, and what the fleet costs Prometheus (series
in its head block, its RSS, a scrape's duration).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from tests.e2e.ui_queries import ui_operations, variables_for
from tests.prometheus_server import Prometheus, launch_prometheus

from bench.budget import record
from bench.fleet_targets import Targets
from bench.measure import p50_p99
from bench.objects import many_programs
from bench.server import CACHE_AGE, AgentProcess, Client, rss_kib

ROOT = Path(__file__).resolve().parent.parent
Row = tuple[str, str]

# What the fleet page sends on each poll, by operation name (pages/fleet.js), and the values
# of their variables as the page sets them.
PAGE = ("FleetNodes", "FleetTopPrograms", "FleetFullestMaps", "FleetHistory")
VALUES = {
    "topPrograms.by": "CPU", "topPrograms.limit": 15, "fullestMaps.limit": 15,
    "history.seconds": 3600, "history.step": 30,
    "programsWhere.name": "bench", "programsWhere.tag": None,
}  # fmt: skip


def record_agent_metrics(programs: int) -> str:
    """One real agent's /metrics with `programs` programs and maps loaded on this host."""
    fds = many_programs(programs)
    agent = AgentProcess("--node-name", "recorded")
    try:
        client = Client(agent.port)
        client.get("/metrics")  # the first scrape starts the stats sampler's counters
        body = client.get("/metrics").decode()
        client.close()
        return body
    finally:
        agent.stop()
        for fd in fds:
            fd.close()


def wait_scraped(prom: Prometheus, nodes: int, timeout: float = 300) -> float:
    """Seconds until every target was scraped up and the fleet rules were evaluated on each
    node (rate() needs two scrapes)."""
    start = time.monotonic()
    prom.wait_for('up{job="devagent"} == 1', nodes, timeout)
    prom.wait_for("devagent:ebpf_node_cpu_cores:rate5m", nodes, timeout)
    return time.monotonic() - start


def head_series(prom: Prometheus) -> int:
    url = prom.url + "/api/v1/status/tsdb"  # the Prometheus this run started, on loopback
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
        return int(json.load(resp)["data"]["headStats"]["numSeries"])


def scalar(prom: Prometheus, promql: str) -> float:
    result = prom.series(promql)
    return float(result[0]["value"][1]) if result else float("nan")


def time_page(
    viewer: Client, rounds: int, sizes: dict[str, int]
) -> tuple[dict[str, list[float]], list[float]]:
    """Each question's latencies (ms) and each whole poll's (the page's questions one after
    another, as one browser connection sends them); `sizes` gets each answer's row count."""
    ops = {op.name: op.text for op in ui_operations() if op.where.endswith("pages/fleet.js")}
    asked = [(name, ops[name], variables_for(ops[name], VALUES)) for name in PAGE]
    each: dict[str, list[float]] = {name: [] for name in PAGE}
    polls: list[float] = []
    for _ in range(rounds):
        time.sleep(CACHE_AGE)  # the page polls every 15 s: each poll meets an expired cache
        poll_start = time.perf_counter()
        for name, text, variables in asked:
            start = time.perf_counter()
            data = viewer.query(text, variables)
            each[name].append((time.perf_counter() - start) * 1000)
            (rows,) = data["fleet"].values()
            if not rows:  # an empty answer would time nothing
                raise RuntimeError(f"{name}: no rows in {data}")
            sizes[name] = len(rows)
        polls.append((time.perf_counter() - poll_start) * 1000)
    return each, polls


def summary(values: list[float]) -> str:
    p50, p99 = p50_p99(values)
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms (n={len(values)})"


def bench_fleet(nodes: int = 500, programs: int = 50, rounds: int = 20) -> list[Row]:
    print(
        f"fleet: recording an agent with {programs} programs + {programs} maps ...", file=sys.stderr
    )
    body = record_agent_metrics(programs)
    series_per_node = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    rules = {"rules.yml": (ROOT / "deploy" / "prometheus" / "rules.yml").read_text()}
    targets = Targets(body, nodes)
    try:
        print(f"fleet: Prometheus scraping {nodes} simulated agents ...", file=sys.stderr)
        with launch_prometheus(
            [f"127.0.0.1:{p}" for p in targets.ports], rules, interval="5s", timeout="4s"
        ) as prom:
            settle = wait_scraped(prom, nodes)
            viewer = AgentProcess("--node-name", "viewer", "--prometheus", prom.url)
            try:
                client = Client(viewer.port)
                sizes: dict[str, int] = {}
                time_page(client, 2, sizes)  # the viewer's first answers (imports, connections)
                each, polls = time_page(client, rounds, sizes)
                client.close()
            finally:
                viewer.stop()
            head = head_series(prom)
            prom_rss = rss_kib(prom.proc.pid) / 1024
            scrape = scalar(prom, 'quantile(0.5, scrape_duration_seconds{job="devagent"})')
    finally:
        targets.stop()
    if nodes >= 500:  # the budget line's size (a --quick run is smaller)
        record("fleet_page_p50", p50_p99(polls)[0])
    rows: list[Row] = [
        ("simulated nodes (one recorded agent each, own node label and pace)", f"{nodes}"),
        (f"series one agent exports ({programs} programs + {programs} maps)", f"{series_per_node}"),
        ("Prometheus: series in the head block", f"{head:,.0f}"),
        ("Prometheus: RSS", f"{prom_rss:.0f} MiB"),
        ("Prometheus: a scrape of one agent (median)", f"{scrape * 1000:.1f} ms"),
        (f"time until Prometheus held all {nodes} nodes and the fleet rules", f"{settle:.0f} s"),
        ("fleet page poll (its four questions, one connection)", summary(polls)),
    ]
    rows += [(f"`{name}` ({sizes[name]} rows)", summary(values)) for name, values in each.items()]
    return rows


def main() -> None:
    nodes = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    for what, value in bench_fleet(nodes):
        print(f"{what}: {value}")


if __name__ == "__main__":
    main()
