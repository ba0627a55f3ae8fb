"""The fleet at 500 nodes, on real parts: Debian's Prometheus scrapes 500 simulated agents
(bench/fleet_targets.py serves a real agent's recorded /metrics from 500 ports, each with its
own node label and counters moving at its own pace), and an agent started with --prometheus
answers Query.fleet from it, reading deploy/prometheus/rules.yml's recorded series as a
deployed fleet does (tests/e2e/test_fleet.py asks the raw series). What is checked here is
that every answer is right at that size; how fast it answers is measured by `bench/fleet.py`
(docs/PERFORMANCE.md), not here."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.fleet_targets import Targets

from tests.conftest import PacketFixture, PhydevServer
from tests.fleet import gql
from tests.prometheus_server import Prometheus, launch_prometheus

ROOT = Path(__file__).resolve().parents[2]
NODES = 500
RULES = {"rules.yml": (ROOT / "deploy" / "prometheus" / "rules.yml").read_text()}
_PROGRAM_INFO = re.compile(r"^devagent_ebpf_program_info\{", re.MULTILINE)
_MAP_INFO = re.compile(r"^devagent_ebpf_map_info\{", re.MULTILINE)


@dataclass
class BigFleet:
    recorded: str
    prometheus: Prometheus
    viewer: PhydevServer


@pytest.fixture(scope="module")
def big_fleet(packet_fixture: PacketFixture) -> Iterator[BigFleet]:
    bpf_dir = packet_fixture.bpf_dir  # its programs and maps make the recorded inventory
    recorder = PhydevServer("--node-name", "recorded", bpf_dir=bpf_dir)
    try:
        recorder.wait_ready()
        recorded, _ = recorder.get("/metrics")
    finally:
        recorder.stop()
    targets = Targets(recorded, NODES)
    try:
        with launch_prometheus(
            [f"127.0.0.1:{p}" for p in targets.ports], RULES, interval="5s", timeout="4s"
        ) as prom:
            prom.wait_for('devagent_agent_info{node=~"sim-.*"}', NODES, timeout=120)
            # two scrapes of every target, so rate() has an answer on each node
            prom.wait_for(
                'count_over_time(devagent_agent_info{node=~"sim-.*"}[1m]) >= 2', NODES, timeout=120
            )
            # and the recording rules evaluated on them (what the viewer reads, as deployed)
            prom.wait_for("devagent:ebpf_node_programs:count", NODES, timeout=120)
            prom.wait_for("devagent:ebpf_node_cpu_cores:rate5m", NODES, timeout=120)
            viewer = PhydevServer(
                "--node-name", "viewer", "--prometheus", prom.url, bpf_dir=bpf_dir
            )
            try:
                viewer.wait_ready()
                yield BigFleet(recorded, prom, viewer)
            finally:
                viewer.stop()
    finally:
        targets.stop()


def test_every_one_of_500_nodes_is_listed_with_its_inventory(big_fleet: BigFleet) -> None:
    answer = gql(
        big_fleet.viewer, "{ fleet { rateWindow nodes { name up programCount mapCount } } }"
    )
    assert "errors" not in answer, str(answer)[:500]
    assert answer["data"]["fleet"]["rateWindow"] == "5m (recording rules)"
    nodes = answer["data"]["fleet"]["nodes"]
    assert [n["name"] for n in nodes] == [f"sim-{i:04d}" for i in range(NODES)]
    programs = len(_PROGRAM_INFO.findall(big_fleet.recorded))
    maps = len(_MAP_INFO.findall(big_fleet.recorded))
    assert programs > 0 and maps > 0
    for node in nodes:
        assert (node["up"], node["programCount"], node["mapCount"]) == (True, programs, maps)


def test_rankings_across_500_nodes(big_fleet: BigFleet) -> None:
    """Top programs by events/s: the simulated nodes' counters grow at paces 1..7 (index mod
    7), so the top of the ranking comes from the fastest nodes; the fullest maps and the CPU
    history answer for the whole fleet."""
    time.sleep(1.1)  # past the response cache of the fixture's first answers
    answer = gql(
        big_fleet.viewer,
        "{ fleet { topPrograms(by: EVENTS, limit: 20) { node id name eventsPerSecond } "
        "fullestMaps(limit: 20) { node id fill } "
        "history(metric: EVENTS, seconds: 600, step: 30) { node points { t v } } } }",
    )
    assert "errors" not in answer, str(answer)[:500]
    fleet = answer["data"]["fleet"]
    top = fleet["topPrograms"]
    assert len(top) == 20
    rates = [p["eventsPerSecond"] for p in top]
    assert rates == sorted(rates, reverse=True) and rates[-1] > 0
    paces = {int(p["node"].removeprefix("sim-")) % 7 for p in top}
    assert paces == {6}, top  # the fastest pace: nodes 6, 13, 20, ...
    maps = fleet["fullestMaps"]
    assert 0 < len(maps) <= 20 and all(0 <= m["fill"] <= 1 for m in maps)
    assert fleet["history"], "no history"
