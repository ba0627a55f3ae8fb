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

from devagent.bpf.names import PROG_TYPE_IDS
from devagent.bpf.progs import load_program, return_imm
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


@contextmanager
def swapped_programs(fleet: Fleet) -> Iterator[int]:
    """Programs that change while Prometheus watches: `fleet_gone` runs, then is unloaded;
    `fleet_new` is loaded; `fleet_twice` goes from one copy to two. Yields `seconds` such
    that `seconds` ago lands between the first sighting of the old set and the swap, for
    Query.fleet.changes; unloads everything at the end."""
    kind = PROG_TYPE_IDS["SocketFilter"]
    gone = load_program(kind, return_imm(0), name="fleet_gone")
    held = [load_program(kind, return_imm(1), name="fleet_twice")]
    try:
        fleet.prometheus.wait_for('devagent_ebpf_program_info{name=~"fleet_gone|fleet_twice"}',
                                  2 * len(NODES))  # fmt: skip
        seen = time.monotonic()
        time.sleep(12)  # six scrapes of the first set (and the 10 s minimum of `seconds`)
        swapped = time.monotonic()
        gone.close()
        held.append(load_program(kind, return_imm(2), name="fleet_new"))
        held.append(load_program(kind, return_imm(1), name="fleet_twice"))
        fleet.prometheus.wait_for('devagent_ebpf_program_info{name=~"fleet_new|fleet_twice"}',
                                  3 * len(NODES))  # fmt: skip
        deadline = time.monotonic() + 30
        while fleet.prometheus.series('devagent_ebpf_program_info{name="fleet_gone"}'):
            assert time.monotonic() < deadline, "fleet_gone never left Prometheus' answers"
            time.sleep(0.5)
        seconds = max(10, int(time.monotonic() - swapped) + 3)
        assert time.monotonic() - seconds > seen
        yield seconds
    finally:
        for fd in [gone, *held]:
            fd.close()
