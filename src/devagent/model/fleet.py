"""The fleet: every node's agent as Prometheus sees it, asked with PromQL.

Each agent exports its inventory with a `node` label (metrics.inventory_families) and
devagent_agent_info{node}; numbers without a node label (run counters, map fill) join to their
node through `on(instance, job)`, so the queries hold whatever labels the scrape config adds.
Prometheus (or Thanos, Mimir, VictoriaMetrics above it) does the fan-out; this module only
writes the queries and shapes the answers, the same for GraphQL (`Query.fleet`), the UI's
fleet pages and `top --agent` in fleet mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from .prometheus_api import Labels, PrometheusAPI

# Numbers get their node from the agent's own info series.
NODE = "* on(instance, job) group_left(node) devagent_agent_info"
# The agent's own iterators (devagent_ebpf_agent_object_info) are left out of rankings.
OWN_PROGRAMS = 'unless on(instance, job, id) devagent_ebpf_agent_object_info{kind="program"}'
OWN_MAPS = 'unless on(instance, job, id) devagent_ebpf_agent_object_info{kind="map"}'
# Arrays hold max_entries entries from creation: never "filling up".
GROWING = 'type!~"Array|PerCPUArray|CgroupArray|PerfEventArray|ProgramArray|ArrayOfMaps"'
HISTORY_SERIES = 50  # nodes per history chart: the highest at each point
# Programs compared across time by what survives a reload (ids do not).
PROGRAM_KIND = "count by (node, name, tag, type) (devagent_ebpf_program_info{offset})"


class NoPast(Exception):
    """Prometheus holds no inventory from the time asked about."""


# The newest series deploy/prometheus/rules.yml records: present when Prometheus evaluates a
# rules file of this version (Fleet.recorded).
RULES_PROBE = "count(devagent:ebpf_node_programs:count)"
RULES_WINDOW = "5m"  # the range of the rules' rate()s
# The recording rules' name for a program counter's rate (devagent:ebpf_prog_<name>:rate5m).
_RULE_OF = {"run_seconds_total": "cpu_share", "runs_total": "events"}
_REGEX_SPECIAL = set(".^$*+?()[]{}|\\")


def promql_string(text: str) -> str:
    """`text` as a PromQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def regex_literal(text: str) -> str:
    """`text` matched literally inside a PromQL (RE2) regular expression."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


@dataclass(frozen=True)
class FleetNode:
    name: str
    instance: str
    version: str | None = None
    kernel: str | None = None
    up: bool = True
    program_count: int | None = None
    map_count: int | None = None
    cpu_cores: float | None = None
    events_per_second: float | None = None
    stats_enabled: bool | None = None
    url: str | None = None


@dataclass(frozen=True)
class FleetProgram:
    node: str
    id: int
    name: str
    type: str | None = None
    tag: str | None = None
    attach: str | None = None
    workload: str | None = None
    cpu_cores: float | None = None
    events_per_second: float | None = None
    url: str | None = None


@dataclass(frozen=True)
class FleetMap:
    node: str
    id: int
    name: str
    type: str | None
    fill: float
    max_entries: int | None = None
    entries: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class FleetChange:
    """Programs of one name, tag and type on one node: how many ran `seconds` ago and now
    (appeared: 0 before; vanished: 0 after; else the count changed)."""

    node: str
    name: str
    tag: str | None
    type: str | None
    change: str  # "appeared", "vanished" or "count"
    before: int
    after: int
    url: str | None = None


@dataclass(frozen=True)
class FleetSeries:
    node: str
    points: list[tuple[float, float]] = field(default_factory=list)


def _int(text: str | None) -> int:
    try:
        return int(text or "")
    except ValueError:
        return -1


class Fleet:
    """Fleet questions against one Prometheus. `window`: the range of rate() (at least two
    scrape intervals); `node_url`: a node's agent URL from its name and instance, or None."""

    def __init__(
        self,
        api: PrometheusAPI,
        *,
        window: str = "2m",
        node_url: Callable[[str, str], str | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.window = window
        self.node_url = node_url or (lambda _node, _instance: None)
        self.clock = clock

    @cached_property
    def recorded(self) -> bool:
        """Whether Prometheus evaluates deploy/prometheus/rules.yml (its newest recorded series
        exist). Then per-node numbers and rankings are read from the recorded series, rates
        over 5 minutes computed once per evaluation, instead of rate() over every program of
        every node at each question: at 500 nodes x 50 programs, eBPF CPU by node took 277 ms
        that way and 3 ms recorded, an hour's chart 507 ms and 15 ms (bench/fleet.py). Without
        the rules the same questions go to the raw series, over --fleet-rate-window. Asked
        once per Fleet, i.e. per request."""
        return bool(self.api.query(RULES_PROBE))

    @property
    def rate_window(self) -> str:
        """The range of the rates answered: the rules' 5m, or --fleet-rate-window."""
        return RULES_WINDOW if self.recorded else self.window

    def _prog_rate(self, metric: str, ids: str | None = None) -> str:
        """Per program and scrape target: CPU share ("run_seconds_total") or events/s
        ("runs_total"), of the programs `ids` (a PromQL regex string) or of all."""
        only = f"{{id=~{ids}}}" if ids else ""
        if self.recorded:
            return f"devagent:ebpf_prog_{_RULE_OF[metric]}:rate5m{only}"
        return f"rate(devagent_ebpf_prog_{metric}{only}[{self.window}])"

    def _node_rate(self, metric: str) -> str:
        """Per node: every program's CPU share or events/s together."""
        if self.recorded and metric == "run_seconds_total":
            return "devagent:ebpf_node_cpu_cores:rate5m"  # recorded by node already
        if self.recorded:
            return f"sum by (node) (devagent:ebpf_node_{_RULE_OF[metric]}:rate5m {NODE})"
        return f"sum by (node) ({self._prog_rate(metric)} {NODE})"

    def _node_count(self, kind: str) -> str:
        """Per node: programs or maps loaded."""
        if self.recorded:
            return f"devagent:ebpf_node_{kind}s:count"
        return f"count by (node) (devagent_ebpf_{kind}_info)"

    def _per_node(self, promql: str) -> dict[str, float]:
        return {labels.get("node", ""): value for labels, value in self.api.query(promql)}

    def _url(self, node: str, instance: str) -> str | None:
        return self.node_url(node, instance)

    def cpu_by_node_query(self) -> str:
        return self._node_rate("run_seconds_total")

    def nodes(self) -> list[FleetNode]:
        """Every node with an agent Prometheus scrapes: programs, maps, eBPF CPU (cores),
        events/s, whether run statistics are on, version; `up` from the scrape's `up`."""
        infos = self.api.query("devagent_agent_info")
        up = {
            (labels.get("instance", ""), labels.get("job", "")): value
            for labels, value in self.api.query("up")
        }
        programs = self._per_node(self._node_count("program"))
        maps = self._per_node(self._node_count("map"))
        cpu = self._per_node(self.cpu_by_node_query())
        events = self._per_node(self._node_rate("runs_total"))
        stats = self._per_node(f"max by (node) (devagent_ebpf_stats_enabled {NODE})")
        out = []
        for labels, _ in infos:
            name, instance = labels.get("node", ""), labels.get("instance", "")
            out.append(
                FleetNode(
                    name=name,
                    instance=instance,
                    version=labels.get("version"),
                    kernel=labels.get("kernel"),
                    up=up.get((instance, labels.get("job", "")), 1.0) == 1.0,
                    program_count=int(programs.get(name, 0)),
                    map_count=int(maps.get(name, 0)),
                    cpu_cores=cpu.get(name),
                    events_per_second=events.get(name),
                    stats_enabled=None if name not in stats else stats[name] == 1.0,
                    url=self._url(name, instance),
                )
            )
        return sorted(out, key=lambda n: n.name)

    def _instances(self) -> dict[str, str]:
        return {
            labels.get("node", ""): labels.get("instance", "")
            for labels, _ in self.api.query("devagent_agent_info")
        }

    def top_programs(self, by: str = "cpu", limit: int = 20) -> list[FleetProgram]:
        """The programs using the most CPU (by="cpu") or running most often (by="events")
        across the fleet, with their nodes."""
        metric = "run_seconds_total" if by == "cpu" else "runs_total"
        other = "runs_total" if by == "cpu" else "run_seconds_total"
        # topk before the join: the join then labels `limit` series, not every program's
        ranked = self.api.query(
            f"topk({int(limit)}, {self._prog_rate(metric)} {OWN_PROGRAMS}) {NODE}"
        )
        if not ranked:
            return []
        # The other number of the same programs only (not every program of the fleet).
        ids = promql_string("|".join(sorted({labels.get("id", "") for labels, _ in ranked})))
        second = {
            (labels.get("node"), labels.get("id")): value
            for labels, value in self.api.query(f"{self._prog_rate(other, ids)} {NODE}")
        }
        instances = self._instances()
        out = []
        for labels, value in sorted(ranked, key=lambda r: -r[1]):
            node, prog_id = labels.get("node", ""), labels.get("id", "")
            other_value = second.get((node, prog_id))
            cpu, events = (value, other_value) if by == "cpu" else (other_value, value)
            out.append(
                FleetProgram(
                    node=node, id=_int(prog_id), name=labels.get("name", ""),
                    type=labels.get("type"), tag=labels.get("tag"), cpu_cores=cpu,
                    events_per_second=events, url=self._url(node, instances.get(node, "")),
                )
            )  # fmt: skip
        return out

    def fullest_maps(self, limit: int = 20) -> list[FleetMap]:
        """The maps closest to full anywhere (entries / max_entries; maps whose fill the
        agent counts, arrays and the agent's own left out)."""
        if self.recorded:
            ratio = f"devagent:ebpf_map_fill:ratio{{{GROWING}}} {OWN_MAPS}"
        else:
            ratio = (f"devagent_ebpf_map_entries{{{GROWING}}} / devagent_ebpf_map_max_entries "
                     f"{OWN_MAPS}")  # fmt: skip
        ranked = self.api.query(f"topk({int(limit)}, {ratio}) {NODE}")
        if not ranked:
            return []
        ids = promql_string("|".join(sorted({labels.get("id", "") for labels, _ in ranked})))
        sizes = {
            (labels.get("node"), labels.get("id")): value
            for labels, value in self.api.query(
                f"max by (node, id) (devagent_ebpf_map_max_entries{{id=~{ids}}} {NODE})"
            )
        }
        instances = self._instances()
        out = []
        for labels, fill in sorted(ranked, key=lambda r: -r[1]):
            node, map_id = labels.get("node", ""), labels.get("id", "")
            size = sizes.get((node, map_id))
            out.append(
                FleetMap(
                    node=node, id=_int(map_id), name=labels.get("name", ""),
                    type=labels.get("type"), fill=fill,
                    max_entries=None if size is None else int(size),
                    entries=None if size is None else round(fill * size),
                    url=self._url(node, instances.get(node, "")),
                )
            )  # fmt: skip
        return out

    def programs_where(
        self, name: str | None = None, tag: str | None = None, limit: int = 1000
    ) -> list[FleetProgram]:
        """Where a program runs: every node's programs whose name or full name contains
        `name`, or whose tag is `tag` (the same code loaded anywhere has the same tag)."""
        if tag:
            selector = f"{{tag={promql_string(tag)}}}"
        elif name:
            pattern = promql_string(f".*{regex_literal(name)}.*")
            selector = f"{{name=~{pattern}}} or devagent_ebpf_program_info{{full_name=~{pattern}}}"
        else:
            return []
        found = self.api.query(f"devagent_ebpf_program_info{selector}")
        instances = self._instances() if found else {}
        rows = sorted(found, key=lambda r: (r[0].get("node", ""), _int(r[0].get("id"))))
        return [self._program(labels, instances) for labels, _ in rows[:limit]]

    def _program(self, labels: Labels, instances: dict[str, str]) -> FleetProgram:
        node = labels.get("node", "")
        return FleetProgram(
            node=node, id=_int(labels.get("id")), name=labels.get("full_name") or
            labels.get("name", ""), type=labels.get("type"), tag=labels.get("tag"),
            attach=labels.get("attach") or None, workload=labels.get("workload") or None,
            url=self._url(node, instances.get(node, "")),
        )  # fmt: skip

    def history(
        self, metric: str = "cpu", seconds: int = 3600, step: int = 60
    ) -> list[FleetSeries]:
        """Per node over the last `seconds`: eBPF CPU (cores), events/s or programs loaded."""
        promql = {
            "cpu": self.cpu_by_node_query(),
            "events": self._node_rate("runs_total"),
            "programs": self._node_count("program"),
        }[metric]
        end = self.clock()
        series = self.api.query_range(f"topk({HISTORY_SERIES}, {promql})", end - seconds, end, step)
        return sorted(
            (FleetSeries(labels.get("node", ""), points) for labels, points in series),
            key=lambda s: s.node,
        )

    def changes(self, seconds: int = 86400, limit: int = 500) -> list[FleetChange]:
        """What changed on every node over the last `seconds`: programs (by name, tag and
        type: ids change with every reload) that appeared, vanished or whose count changed,
        by node and name. NoPast when Prometheus has no inventory from then (its retention,
        or it started later): everything would look new."""
        past = f" offset {int(seconds)}s"
        if not self.api.query(f"count(devagent_ebpf_program_info{past})"):
            raise NoPast(
                f"Prometheus holds no inventory from {seconds} s ago (it started later, or its "
                "retention is shorter): nothing to compare with"
            )
        now, then = PROGRAM_KIND.format(offset=""), PROGRAM_KIND.format(offset=past)
        found: dict[tuple[str, str, str, str], list[int]] = {}
        for promql, slot in ((f"{now} unless {then}", 1), (f"{then} unless {now}", 0),
                             (f"{now} != {then}", 1), (f"{then} != {now}", 0)):  # fmt: skip
            for labels, value in self.api.query(promql):
                key = (labels.get("node", ""), labels.get("name", ""), labels.get("tag", ""),
                       labels.get("type", ""))  # fmt: skip
                found.setdefault(key, [0, 0])[slot] = int(value)
        instances = self._instances() if found else {}
        out = []
        for (node, name, tag, kind), (before, after) in sorted(found.items())[:limit]:
            change = "appeared" if before == 0 else "vanished" if after == 0 else "count"
            out.append(
                FleetChange(
                    node=node, name=name, tag=tag or None, type=kind or None, change=change,
                    before=before, after=after, url=self._url(node, instances.get(node, "")),
                )
            )  # fmt: skip
        return out
