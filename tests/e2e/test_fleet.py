"""The fleet on real parts: three `phydev server`s with different --node-name on loopback, a
real Prometheus (Debian's) scraping them, and a fourth agent started with --prometheus that
answers `Query.fleet` from it. The three agents see the same kernel, so every program shows on
all three nodes, with its own id; the pump's socket filter runs at a known rate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PacketFixture, PhydevServer, run_phydev
from tests.e2e.terminal import PHYDEV, Terminal
from tests.fleet import NODES, RATE, Fleet, gql, running_fleet, swapped_programs
from tests.pump import PROG_NAME, PacketPump

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana-devagent.json"


@pytest.fixture(scope="module")
def fleet(packet_fixture: PacketFixture, packet_pump: PacketPump) -> Iterator[Fleet]:
    with running_fleet(packet_fixture, packet_pump) as made:
        yield made


def test_every_node_is_listed_with_its_inventory(fleet: Fleet) -> None:
    answer = gql(
        fleet.viewer,
        "{ fleet { configured prometheus error rateWindow nodes { name instance up version kernel "
        "programCount mapCount cpuCores eventsPerSecond statsEnabled url } } }",
    )
    assert "errors" not in answer, answer
    data = answer["data"]["fleet"]
    assert data["configured"] is True and data["error"] is None
    assert data["prometheus"] == fleet.prometheus.url
    assert data["rateWindow"] == "10s"  # no recording rules here: the raw series, the flag's
    nodes = {n["name"]: n for n in data["nodes"]}
    assert sorted(nodes) == sorted(NODES)  # the viewer is not scraped: not a node
    for name, agent in fleet.agents.items():
        node = nodes[name]
        assert node["instance"] == f"127.0.0.1:{agent.port}"
        assert node["up"] is True and node["statsEnabled"] is True, node
        assert node["url"] == f"http://127.0.0.1:{agent.port}/ui/"
        # the node's count is Prometheus' count of the inventory the agent exported (other
        # processes load and unload programs meanwhile: an exact match with a listing of the
        # agent's would race them)
        held = fleet.prometheus.series(f'count(devagent_ebpf_program_info{{node="{name}"}})')
        assert abs(node["programCount"] - float(held[0]["value"][1])) <= 50
        assert node["programCount"] >= 2  # the pump's filter and the fixture's programs at least
        assert node["mapCount"] > 0 and node["eventsPerSecond"] >= RATE * 0.5


def test_top_programs_and_where_a_program_runs(fleet: Fleet) -> None:
    answer = gql(
        fleet.viewer,
        "{ fleet { topPrograms(by: EVENTS, limit: 60) { node id name eventsPerSecond cpuCores "
        'url } programsWhere(name: "' + PROG_NAME + '") { node id name type tag } } }',
    )
    assert "errors" not in answer, answer
    # other tests on this host may run their own pump (same name): ours is ours by id
    ours = fleet.pump.prog_id
    top = [p for p in answer["data"]["fleet"]["topPrograms"] if p["id"] == ours]
    assert sorted(p["node"] for p in top) == sorted(NODES)
    now = time.time()
    sent = fleet.pump.sent_between(now - 12, now) / 12  # what the pump achieved lately
    for p in top:
        assert p["name"] == PROG_NAME
        assert sent * 0.5 <= p["eventsPerSecond"] <= sent * 1.5, (p, sent)
    where = [p for p in answer["data"]["fleet"]["programsWhere"] if p["id"] == ours]
    assert sorted(p["node"] for p in where) == sorted(NODES)
    assert {(p["name"], p["type"]) for p in where} == {(PROG_NAME, "SocketFilter")}
    assert all(PROG_NAME in p["name"] for p in answer["data"]["fleet"]["programsWhere"])
    tag = where[0]["tag"]
    by_tag = gql(fleet.viewer, f'{{ fleet {{ programsWhere(tag: "{tag}") {{ node id tag }} }} }}')
    found = by_tag["data"]["fleet"]["programsWhere"]
    assert {p["node"] for p in found if p["id"] == ours} == set(NODES)
    assert {p["tag"] for p in found} == {tag}


def test_fullest_maps_and_history(fleet: Fleet) -> None:
    answer = gql(
        fleet.viewer,
        "{ fleet { fullestMaps(limit: 10) { node id name fill entries maxEntries } "
        "history(metric: EVENTS, seconds: 120, step: 2) { node points { t v } } } }",
    )
    assert "errors" not in answer, answer
    maps = answer["data"]["fleet"]["fullestMaps"]
    assert maps and {m["node"] for m in maps} <= set(NODES)
    fills = [m["fill"] for m in maps]
    assert fills == sorted(fills, reverse=True) and 0 <= fills[-1] <= fills[0] <= 1
    history = answer["data"]["fleet"]["history"]
    assert sorted(s["node"] for s in history) == sorted(NODES)
    for series in history:
        assert series["points"] and max(p["v"] for p in series["points"]) >= RATE * 0.5


def test_bad_arguments_and_an_unreachable_prometheus_are_named(
    fleet: Fleet, packet_fixture: PacketFixture
) -> None:
    answer = gql(fleet.viewer, "{ fleet { topPrograms(limit: 0) { id } configured } }")
    assert answer["data"]["fleet"] == {"topPrograms": None, "configured": True}
    assert "limit must be 1..500, not 0" in answer["errors"][0]["message"]
    answer = gql(fleet.viewer, "{ fleet { history(seconds: 86400, step: 1) { node } } }")
    assert "step must be at least" in answer["errors"][0]["message"]
    lone = PhydevServer("--prometheus", "http://127.0.0.1:9", bpf_dir=packet_fixture.bpf_dir)
    try:
        lone.wait_ready()
        answer = gql(lone, "{ fleet { configured nodes { name } } }")
        assert answer["data"]["fleet"] == {"configured": True, "nodes": None}
        assert "is unreachable" in answer["errors"][0]["message"]
        assert gql(lone, "{ programs { id } }")["data"]["programs"]  # and it keeps serving
    finally:
        lone.stop()


def test_an_agent_without_prometheus_says_how_to_get_a_fleet(fleet: Fleet) -> None:
    answer = gql(fleet.agents["node-a"], "{ fleet { configured error nodes { name } } }")
    assert "errors" not in answer
    fleet_answer = answer["data"]["fleet"]
    assert fleet_answer["configured"] is False and fleet_answer["nodes"] == []
    assert "--prometheus" in fleet_answer["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus", "ftp://x"], "is not an http(s) URL"),
        (["--fleet-rate-window", "2 minutes"], "is not a Prometheus duration"),
        (["--prometheus-token-file", "/nonexistent"], "needs --prometheus"),
        (["--prometheus", "http://p:9090", "--prometheus-basic-auth-file", "/nonexistent"],
         "cannot read /nonexistent"),
    ],
)  # fmt: skip
def test_bad_fleet_options_stop_the_start(args: list[str], message: str, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "phydev"
    done = subprocess.run(
        [str(exe), "server", "--listen", "127.0.0.1", "--skip-welcome", *args],
        capture_output=True, text=True, timeout=60, env={"PORT": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_inventory_metrics_carry_the_node(fleet: Fleet) -> None:
    found = fleet.prometheus.series(f'devagent_ebpf_program_info{{name="{PROG_NAME}"}}')
    assert sorted(s["metric"]["node"] for s in found) == sorted(NODES)
    for s in found:
        assert (
            s["metric"]["id"] == str(fleet.pump.prog_id) and s["metric"]["type"] == "SocketFilter"
        )
    truncated = fleet.prometheus.series("devagent_ebpf_inventory_truncated")
    assert truncated and all(s["value"][1] == "0" for s in truncated)


def test_dashboard_fleet_panels_show_every_node(fleet: Fleet) -> None:
    """The Grafana dashboard's fleet panels, their expressions as Grafana would send them:
    the pump's program runs on all three nodes, and each node has its own CPU series."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    fill = {"$__rate_interval": "10s", "$instance": ".*"}

    def expr(title: str) -> str:
        text = str(panels[title]["targets"][0]["expr"])
        for name, value in fill.items():
            text = text.replace(name, value)
        return text

    where = fleet.prometheus.series(expr("Fleet: on how many nodes each program runs"))
    pumps = [s for s in where if s["metric"].get("name") == PROG_NAME]
    assert pumps and all(float(s["value"][1]) == len(NODES) for s in pumps), pumps
    cpu = fleet.prometheus.series(expr("Fleet: eBPF CPU per node"))
    assert {s["metric"]["node"] for s in cpu} == set(NODES)
    assert all(float(s["value"][1]) > 0 for s in cpu), cpu


def test_top_fleet_json_lists_every_node_and_ranks_programs_across_them(fleet: Fleet) -> None:
    """`phydev top --agent VIEWER --fleet --json`: the nodes Prometheus scrapes, and the
    pump's filter on each of them, at about the pump's rate."""
    done = run_phydev("top", "--agent", fleet.viewer.url, "--fleet", "--json", "--count", "1",
                      "--interval", "0.5")  # fmt: skip
    line = json.loads(done.stdout.splitlines()[-1])
    assert sorted(n["name"] for n in line["nodes"]) == sorted(NODES)
    assert all(n["up"] and n["programCount"] >= 2 for n in line["nodes"]), line["nodes"]
    assert line["prometheus"] == fleet.prometheus.url and line["rateWindow"] == "10s"
    ours = [p for p in line["programs"] if p["id"] == fleet.pump.prog_id]
    assert sorted(p["node"] for p in ours) == sorted(NODES)
    now = time.time()
    sent = fleet.pump.sent_between(now - 12, now) / 12
    for p in ours:
        assert p["name"] == PROG_NAME and p["type"] == "SocketFilter"
        assert sent * 0.5 <= p["eventsPerSecond"] <= sent * 1.5, (p, sent)
    keys = [(p["node"], p["id"]) for p in line["programs"]]
    assert len(keys) == len(set(keys))  # once per node and id, whichever ranking had it


def test_top_fleet_needs_an_agent_with_prometheus(fleet: Fleet) -> None:
    done = run_phydev("top", "--fleet", "--json", "--count", "1", check=False)
    assert done.returncode == 2 and "--fleet needs --agent URL" in done.stderr
    alone = fleet.agents["node-a"]
    done = run_phydev("top", "--agent", alone.url, "--fleet", "--json", "--count", "1",
                      check=False)  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert f"the agent at {alone.url}/query has no fleet to show" in done.stderr
    assert "--prometheus" in done.stderr


def test_top_fleet_in_a_real_terminal(fleet: Fleet, tmp_path: Path) -> None:
    """The full-screen fleet view under tmux: the fleet's header, a Node column, the pump's
    filter on every node; sorting by node with 1; q ends it with status 0."""
    term = Terminal(f"{PHYDEV} top --agent {fleet.viewer.url} --fleet --interval 1",
                    tmp_path / "rc", 160, 30)  # fmt: skip
    try:
        screen = term.wait_for("fleet via", "nodes 3 (3 up)", "Node", "Workload", *NODES)
        rows = [line for line in screen.splitlines() if PROG_NAME in line]
        assert {n for n in NODES if any(line.split()[0] == n for line in rows)} == set(NODES)
        if os.environ.get("DEVAGENT_UPDATE_DOCS") == "1":
            update_fleet_screen(screen)
        term.keys("1")  # sort by Node, A to Z
        screen = term.wait_for("sorted by Node ▲")
        firsts = [line.split()[0] for line in screen.splitlines() if line.split()[:1]
                  and line.split()[0] in NODES]  # fmt: skip
        assert firsts == sorted(firsts)
        term.keys("q")
        assert term.exit_status() == 0, term.screen()
    finally:
        term.close()


TOP_DOC = Path(__file__).resolve().parents[2] / "docs" / "TOP.md"
FLEET_START, FLEET_END = "<!-- top-fleet-screen: start -->", "<!-- top-fleet-screen: end -->"


def update_fleet_screen(screen: str) -> None:
    """Put a real capture of the fleet view in docs/TOP.md (DEVAGENT_UPDATE_DOCS=1 only)."""
    text = TOP_DOC.read_text()
    start, end = text.index(FLEET_START) + len(FLEET_START), text.index(FLEET_END)
    lines = [line.rstrip(" ▂▁▃▄▅▆▇█▏") for line in screen.rstrip().splitlines()]  # no scrollbar
    TOP_DOC.write_text(
        f"{text[:start]}\n```text\n" + "\n".join(lines[:18]) + f"\n```\n{text[end:]}"
    )


def test_what_changed_on_the_fleet(fleet: Fleet) -> None:
    """Query.fleet.changes: a program that ran and was unloaded vanished on every node, one
    loaded since appeared, a second copy changed the count; a window longer than Prometheus
    holds is named."""
    with swapped_programs(fleet) as seconds:
        answer = gql(fleet.viewer, f"{{ fleet {{ changes(seconds: {seconds}) {{ node name tag "
                                   "type change before after url } } }")  # fmt: skip
    assert "errors" not in answer, answer
    ours = {(c["node"], c["name"]): c for c in answer["data"]["fleet"]["changes"]
            if c["name"].startswith("fleet_")}  # fmt: skip
    for node in NODES:
        gone, new, twice = (ours[(node, f"fleet_{n}")] for n in ("gone", "new", "twice"))
        assert (gone["change"], gone["before"], gone["after"]) == ("VANISHED", 1, 0)
        assert (new["change"], new["before"], new["after"]) == ("APPEARED", 0, 1)
        assert new["type"] == "SocketFilter" and len(new["tag"]) == 16
        assert (twice["change"], twice["before"], twice["after"]) == ("COUNT", 1, 2)
        assert twice["url"] == fleet.agents[node].url + "/ui/"
    too_far = gql(fleet.viewer, "{ fleet { changes(seconds: 2592000) { node } } }")
    assert too_far["data"]["fleet"]["changes"] is None
    assert "holds no inventory from 2592000 s ago" in too_far["errors"][0]["message"]
    bad = gql(fleet.viewer, "{ fleet { changes(seconds: 5) { node } } }")
    assert "seconds must be 10..2592000, not 5" in bad["errors"][0]["message"]
