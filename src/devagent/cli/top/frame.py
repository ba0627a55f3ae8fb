"""What one refresh of `phydev top` shows, the same for a local kernel and a remote agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Header:
    """The host line(s). CPU values are None while rates are unknown."""

    hostname: str
    kernel_release: str
    cpu_count: int
    stats_mode: str  # SYSCTL, ENABLE_STATS_FD or OFF (model.stats_mode)
    stats_text: str
    programs: int
    maps: int
    links: int
    cpu_percent: float | None  # of one core
    host_cpu_percent: float | None  # of all CPUs
    events_per_second: float | None


@dataclass(frozen=True)
class Row:
    """One program. Rates are None when unknown (new program, statistics off)."""

    id: int
    name: str
    type: str
    attach: str
    owner: str
    events_per_second: float | None
    avg_run_time_ns: float | None
    cpu_percent: float | None
    recursion_misses_per_second: float | None
    agent_own: bool = False  # one of the agent's own iterators (bpf.agent_objects)
    node: str = ""  # the node it runs on (fleet mode; "" for one host)

    @property
    def key(self) -> str:
        """Unique among a frame's rows: ids repeat across the nodes of a fleet."""
        return f"{self.node}/{self.id}" if self.node else str(self.id)


def shown_rows(rows: list[Row], show_agent: bool) -> list[Row]:
    """The rows to show: the agent's own programs only with `show_agent` (--show-agent, or
    the `a` key of the full-screen view)."""
    return rows if show_agent else [r for r in rows if not r.agent_own]


@dataclass(frozen=True)
class MapLine:
    """A map of the selected program: entries (None: not counted) against max entries."""

    id: int
    name: str
    type: str
    entries: int | None
    max_entries: int
    memlock_bytes: int | None


@dataclass(frozen=True)
class Detail:
    """The selected program: its history (oldest first), links, owners and maps."""

    id: int
    name: str
    type: str
    events_history: list[float | None] = field(default_factory=list)
    cpu_history: list[float | None] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    maps: list[MapLine] = field(default_factory=list)


@dataclass(frozen=True)
class FleetNode:
    """One node of the fleet, as Prometheus last saw its agent."""

    name: str
    up: bool
    version: str | None
    kernel: str | None
    programs: int | None
    maps: int | None
    cpu_cores: float | None
    events_per_second: float | None
    stats_enabled: bool | None
    url: str | None


@dataclass(frozen=True)
class FleetHeader:
    """The fleet's totals (fleet mode): every node, through the agent's --prometheus."""

    prometheus: str
    rate_window: str
    nodes: list[FleetNode]

    def total(self, attr: str) -> float | None:
        """The sum of a node attribute over the nodes that have it (None: none has)."""
        values = [v for n in self.nodes if (v := getattr(n, attr)) is not None]
        return sum(values) if values else None


@dataclass(frozen=True)
class Frame:
    """One refresh: `interval` is the measured time since the previous reading (None for
    the first), `wall_time` Unix time of this reading."""

    wall_time: float
    interval: float | None
    header: Header | FleetHeader
    rows: list[Row]
    detail: Detail | None = None


class Source(Protocol):
    """Where frames come from. `selected` is the program whose detail the next frame
    carries (None: no detail)."""

    selected: int | None
    fleet: bool  # rows are programs of many nodes (Row.node), the header a FleetHeader

    def refresh(self) -> Frame: ...

    def close(self) -> None: ...


class SourceError(Exception):
    """A refresh failed in a way the user must hear about (unreachable agent, bad token)."""
