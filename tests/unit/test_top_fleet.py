"""`phydev top --fleet`'s frames from an agent's `Query.fleet` answer: rows of both rankings
merged per node and id, rates as on one host, the fleet's header, JSON Lines, and answers
that are not what the query asks for (no fleet, a wrong shape) named."""

from __future__ import annotations

from typing import Any

import pytest

from devagent.cli.top.answer import Node, ShapeError
from devagent.cli.top.fleet import fleet_frame, fleet_query
from devagent.cli.top.frame import FleetHeader, SourceError
from devagent.cli.top.jsonl import frame_json
from devagent.cli.top.view import FLEET_COLUMNS, cell_texts, filter_rows, header_lines, sort_rows


def program(node: str, prog_id: int, cores: float | None, events: float | None) -> dict[str, Any]:
    return {"node": node, "id": prog_id, "name": f"p{prog_id}", "type": "XDP",
            "attach": "xdp eth0", "workload": "pod default/api", "cpuCores": cores,
            "eventsPerSecond": events}  # fmt: skip


def node(name: str, **over: Any) -> dict[str, Any]:
    return {"name": name, "up": True, "version": "0.1.0", "kernel": "6.12.0",
            "programCount": 10, "mapCount": 20, "cpuCores": 0.02, "eventsPerSecond": 500.0,
            "statsEnabled": True, "url": None, **over}  # fmt: skip


def answer(**over: Any) -> Node:
    fleet = {
        "configured": True, "error": None, "prometheus": "http://prom:9090",
        "rateWindow": "5m (recording rules)",
        "nodes": [node("a"), node("b", statsEnabled=False, cpuCores=None)],
        "cpu": [program("a", 7, 0.01, 1000.0), program("b", 7, 0.005, 100.0)],
        "events": [program("a", 7, 0.01, 1000.0), program("b", 9, None, 50.0)],
        **over,
    }  # fmt: skip
    return Node({"fleet": fleet}, "")


def test_rows_of_both_rankings_once_per_node_and_id() -> None:
    frame = fleet_frame(answer(), 5.0)
    assert [(r.node, r.id) for r in frame.rows] == [("a", 7), ("b", 7), ("b", 9)]
    first = frame.rows[0]
    assert first.key == "a/7" and len({r.key for r in frame.rows}) == 3
    assert first.cpu_percent == pytest.approx(1.0)  # 0.01 cores: 1 % of one core
    assert first.avg_run_time_ns == pytest.approx(10_000)  # 0.01 s / 1000 runs
    assert frame.rows[2].cpu_percent is None and frame.rows[2].avg_run_time_ns is None
    cells = [str(c) for c in cell_texts(first, FLEET_COLUMNS)]
    assert cells == ["a", "7", "p7", "XDP", "xdp eth0", "pod default/api", "1,000.0", "10,000",
                     "1.00"]  # fmt: skip
    assert [r.key for r in sort_rows(frame.rows, "Node", True)] == ["b/9", "b/7", "a/7"]
    assert [r.key for r in sort_rows(frame.rows, "CPU %", True)] == ["a/7", "b/7", "b/9"]
    assert [r.key for r in filter_rows(frame.rows, "B")] == ["b/7", "b/9"]  # by node too


def test_header_and_json_lines() -> None:
    frame = fleet_frame(answer(), 5.0)
    assert isinstance(frame.header, FleetHeader)
    lines = header_lines(frame.header)
    assert lines[0].startswith("fleet via http://prom:9090  nodes 2 (2 up)  programs 20  maps 40")
    assert "rates over 5m (recording rules)" in lines[0]
    assert (
        lines[1] == "eBPF CPU 2.00% of one core  events/s 1,000.0  no run statistics on 1 node(s)"
    )
    shown = frame_json(frame)
    assert [n["name"] for n in shown["nodes"]] == ["a", "b"]
    assert shown["nodes"][1]["cpuPercent"] is None and shown["nodes"][1]["statsEnabled"] is False
    assert shown["programs"][0] == {
        "node": "a", "id": 7, "name": "p7", "type": "XDP", "attachPoint": "xdp eth0",
        "workload": "pod default/api", "eventsPerSecond": 1000.0,
        "avgRunTimeNs": pytest.approx(10_000), "cpuPercent": pytest.approx(1.0),
    }  # fmt: skip
    assert shown["total"] == {"cpuPercent": pytest.approx(2.0), "eventsPerSecond": 1000.0}
    assert shown["rateWindow"] == "5m (recording rules)"


def test_an_agent_without_a_fleet_says_why() -> None:
    why = "start the agent with --prometheus URL to see the fleet"
    with pytest.raises(SourceError, match="has no fleet to show: start the agent with"):
        fleet_frame(answer(configured=False, error=why, nodes=[]), None)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"nodes": [node("a", up="yes")]}, "fleet.nodes[0].up is not a boolean"),
        ({"cpu": [{**program("a", 7, 0.1, 1.0), "id": "7"}]}, "fleet.cpu[0].id is not an integer"),
        ({"events": {"x": 1}}, "fleet.events is not a list"),
        ({"prometheus": 5}, "fleet.prometheus is not a string"),
    ],
)
def test_a_wrong_shape_is_named(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ShapeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fleet_frame(answer(**over), None)


def test_the_query_asks_both_rankings() -> None:
    text = fleet_query(100)
    assert "cpu: topPrograms(by: CPU, limit: 100)" in text
    assert "events: topPrograms(by: EVENTS, limit: 100)" in text
