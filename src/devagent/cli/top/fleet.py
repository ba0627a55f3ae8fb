"""`phydev top --agent URL --fleet`: the programs of every node, through an agent started
with --prometheus (its `Query.fleet`, answered with PromQL; the fleet is never a fan-out of
agents).

One query per refresh asks for every node and two rankings of programs across the fleet
(by CPU and by runs per second, 100 of each, merged: with run statistics off on a node its
programs still rank by events). Rates are Prometheus' own over the agent's rate window, so
they change once per scrape: the default refresh is every 5 s. The answer is checked field
by field like any remote agent's (answer.Node); a fleet the agent cannot show (no
--prometheus, Prometheus unreachable) is one SourceError naming why.
"""

from __future__ import annotations

import time

from .answer import Node, ShapeError
from .frame import FleetHeader, FleetNode, Frame, Row, SourceError
from .plain import printable
from .remote import RemoteSource

RANKED = 100  # programs per ranking (the GraphQL limit is 500)
INTERVAL = 5.0  # default seconds between refreshes: Prometheus scrapes every 5-60 s

NODE_FIELDS = (
    "name up version kernel programCount mapCount cpuCores eventsPerSecond statsEnabled url"
)
PROGRAM_FIELDS = "node id name type attach workload cpuCores eventsPerSecond"


def fleet_query(ranked: int = RANKED) -> str:
    return (
        f"query TopFleet {{ fleet {{ configured error prometheus rateWindow "
        f"nodes {{ {NODE_FIELDS} }} "
        f"cpu: topPrograms(by: CPU, limit: {ranked}) {{ {PROGRAM_FIELDS} }} "
        f"events: topPrograms(by: EVENTS, limit: {ranked}) {{ {PROGRAM_FIELDS} }} }} }}"
    )


def fleet_node(n: Node) -> FleetNode:
    up = n.value.get("up")
    stats = n.value.get("statsEnabled")
    if not isinstance(up, bool):
        raise ShapeError(f"{n.at('up')} is not a boolean")
    return FleetNode(
        name=n.text("name"), up=up, version=n.text_or_none("version"),
        kernel=n.text_or_none("kernel"), programs=n.integer_or_none("programCount"),
        maps=n.integer_or_none("mapCount"), cpu_cores=n.number_or_none("cpuCores"),
        events_per_second=n.number_or_none("eventsPerSecond"),
        stats_enabled=stats if isinstance(stats, bool) else None, url=n.text_or_none("url"),
    )  # fmt: skip


def fleet_row(p: Node) -> Row:
    """A program on one node. CPU % is of one core (cores × 100), as on one host; the
    average run time is CPU time over runs."""
    cores, events = p.number_or_none("cpuCores"), p.number_or_none("eventsPerSecond")
    average = cores * 1e9 / events if cores is not None and events else None
    return Row(
        p.integer("id"), p.text("name"), p.text_or_none("type") or "-",
        p.text_or_none("attach") or "-", p.text_or_none("workload") or "-", events, average,
        None if cores is None else cores * 100, None, node=p.text("node"),
    )  # fmt: skip


def fleet_frame(data: Node, interval: float | None) -> Frame:
    """The frame of one answer; SourceError when the agent says it has no fleet."""
    fleet = data.node("fleet")
    if fleet.value.get("configured") is not True or fleet.value.get("error"):
        why = fleet.text_or_none("error") or "it was not started with --prometheus"
        raise SourceError(f"has no fleet to show: {printable(why, 300)}")
    rows: dict[str, Row] = {}
    for p in [*fleet.nodes("cpu"), *fleet.nodes("events")]:
        row = fleet_row(p)
        rows.setdefault(row.key, row)
    header = FleetHeader(
        prometheus=fleet.text("prometheus"),
        rate_window=fleet.text_or_none("rateWindow") or "-",
        nodes=[fleet_node(n) for n in fleet.nodes("nodes")],
    )
    return Frame(time.time(), interval, header, list(rows.values()))


class FleetSource(RemoteSource):
    """Frames of the fleet an agent sees (see the module's docstring)."""

    fleet = True

    def refresh(self) -> Frame:
        data = self.query(fleet_query())
        interval = self._interval(time.monotonic())
        try:
            return fleet_frame(data, interval)
        except ShapeError as err:
            raise self._fail(f"answered an unexpected shape: {err}") from None
        except SourceError as err:
            raise self._fail(str(err)) from None
