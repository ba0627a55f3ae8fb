"""Three `phydev server`s with different --node-name on loopback, a real Prometheus (Debian's)
scraping them, and a fourth agent started with --prometheus that answers `Query.fleet`: the
fleet the API, UI and top tests use. The three agents see the same kernel, so every program
shows on all three nodes; the pump's socket filter runs at a known rate."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.conftest import PacketFixture, PhydevServer
from tests.prometheus_server import Prometheus, launch_prometheus
from tests.pump import PacketPump

NODES = ("node-a", "node-b", "node-c")
RATE = 200.0  # datagrams per second through the pump's filter


def gql(server: PhydevServer, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        server.url + "/query",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        answer: dict[str, Any] = json.load(resp)
    return answer


@dataclass
class Fleet:
    agents: dict[str, PhydevServer]
    prometheus: Prometheus
    viewer: PhydevServer
    pump: PacketPump


@contextmanager
def running_fleet(packet_fixture: PacketFixture, packet_pump: PacketPump) -> Iterator[Fleet]:
    bpf_dir = packet_fixture.bpf_dir
    agents = {n: PhydevServer("--node-name", n, bpf_dir=bpf_dir) for n in NODES}
    viewer = None
    try:
        for agent in agents.values():
            agent.wait_ready()
        packet_pump.start(RATE)
        targets = [f"127.0.0.1:{a.port}" for a in agents.values()]
        # 2 s scrapes: a scrape that times out on a loaded machine makes every series of its
        # node stale until the next one
        with launch_prometheus(targets, interval="2s") as prom:
            viewer = PhydevServer(
                "--node-name", "viewer", "--prometheus", prom.url, "--fleet-rate-window", "10s",
                "--node-url-template", "http://{instance}/ui/", bpf_dir=bpf_dir,
            )  # fmt: skip
            viewer.wait_ready()
            prom.wait_for("devagent_agent_info", len(NODES))
            # rate() over 10 s needs two scrapes of a moving counter on every node, and until
            # the series is 10 s old it reads low (Prometheus divides by the whole window)
            prom.wait_for(
                f'rate(devagent_ebpf_prog_runs_total{{id="{packet_pump.prog_id}"}}[10s]) > 0',
                len(NODES),
            )
            time.sleep(11)
            yield Fleet(agents, prom, viewer, packet_pump)
    finally:
        packet_pump.stop()
        for server in [*agents.values(), *([viewer] if viewer else [])]:
            server.stop()
