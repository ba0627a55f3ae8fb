"""What the host is and what eBPF costs it: the header of `phydev top` and `Query.host`.

One place computes it, so the terminal and the API agree: total eBPF CPU is the sum of the
programs' CPU % over the latest interval (`model.rates`), given as % of one core and as % of
all the host's CPUs.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from ..bpf.handles import iter_link_ids, iter_map_ids
from .rates import Rates
from .stats_mode import StatsStatus


@dataclass(frozen=True)
class HostSummary:
    """The host, its eBPF objects and their cost right now.

    `cpu_percent` is of one core; None while rates are unknown (first interval, statistics
    off, or nobody asked for rates yet).
    """

    hostname: str
    kernel_release: str
    cpu_count: int
    stats: StatsStatus
    programs: int
    maps: int
    links: int
    memlock_bytes: int | None
    cpu_percent: float | None
    events_per_second: float | None

    @property
    def host_cpu_percent(self) -> float | None:
        """The eBPF CPU as a share of all the host's CPUs (100 = every CPU busy)."""
        return None if self.cpu_percent is None else self.cpu_percent / self.cpu_count


def cpu_count() -> int:
    """CPUs the host has online (at least 1)."""
    return os.cpu_count() or 1


def count_maps_and_links() -> tuple[int, int]:
    """How many maps and links exist: id walks only, nothing is opened."""
    return sum(1 for _ in iter_map_ids()), sum(1 for _ in iter_link_ids())


def host_summary(
    stats: StatsStatus,
    programs: int,
    maps: int,
    links: int,
    rates: Rates | None,
    memlock_bytes: int | None = None,
) -> HostSummary:
    """The summary from counts the caller already has and the latest rates."""
    return HostSummary(
        hostname=socket.gethostname(),
        kernel_release=os.uname().release,
        cpu_count=cpu_count(),
        stats=stats,
        programs=programs,
        maps=maps,
        links=links,
        memlock_bytes=memlock_bytes,
        cpu_percent=rates.total_cpu_percent if rates else None,
        events_per_second=rates.total_events_per_second if rates else None,
    )
