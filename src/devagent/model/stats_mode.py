"""How the kernel collects run statistics right now, said the same way by every consumer.

run_cnt and run_time_ns move only while statistics are on: through the sysctl
`kernel.bpf_stats_enabled=1`, or while some process holds a BPF_ENABLE_STATS fd (`phydev
top` by default, `phydev server` while watched or always with --enable-stats, bpftop, ...).
Rates are unknown while they are off. Finding other processes' fds means reading every
/proc/PID/fd, so a StatsProbe keeps that answer for a while; the sysctl and our own fd are
cheap and checked first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..bpf import procfs
from ..bpf.stats import stats_fd_holders, sysctl_enabled

SYSCTL = "SYSCTL"
ENABLE_STATS_FD = "ENABLE_STATS_FD"
OFF = "OFF"


@dataclass(frozen=True)
class StatsStatus:
    """`mode` is SYSCTL, ENABLE_STATS_FD or OFF; `own` says whether this process holds the
    fd; `holders` names the processes holding one (comm[pid]) when we looked for them."""

    mode: str
    own: bool = False
    holders: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.mode != OFF

    def describe(self, own_name: str = "this process") -> str:
        """One line for a header: which mechanism is in force."""
        if self.mode == SYSCTL:
            return "kernel.bpf_stats_enabled=1"
        if self.mode == ENABLE_STATS_FD:
            who = own_name if self.own else ", ".join(self.holders) or "another process"
            return f"BPF_ENABLE_STATS fd held by {who}"
        return "off (run counts and times do not move; rates unknown)"


def owner_label(comm: str, pid: int) -> str:
    """A process as top and the API show it: `comm[pid]`."""
    return f"{comm}[{pid}]"


def probe_stats(own_fd: bool, holders: Callable[[], tuple[str, ...]] | None = None) -> StatsStatus:
    """The current mode. `own_fd`: this process holds a BPF_ENABLE_STATS fd. `holders`
    finds the other processes holding one (default: a scan of /proc)."""
    if sysctl_enabled():
        return StatsStatus(SYSCTL, own_fd)
    if own_fd:
        return StatsStatus(ENABLE_STATS_FD, True)
    found = (holders or scan_stats_holders)()
    return StatsStatus(ENABLE_STATS_FD if found else OFF, False, found)


def scan_stats_holders() -> tuple[str, ...]:
    """Every process holding a BPF_ENABLE_STATS fd, as comm[pid] (reads all of /proc)."""
    return tuple(owner_label(procfs.read_comm(p), p) for p in stats_fd_holders())


class StatsProbe:
    """probe_stats, with the /proc scan for other processes' fds reused for `max_age`
    seconds (the sysctl is read every time: it is one small file). Thread-safe. `own_fd` is
    fixed, or asked at every status (a server holding the fd on demand, model.stats_hold)."""

    def __init__(
        self,
        own_fd: bool | Callable[[], bool] = False,
        *,
        max_age: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.own_fd = own_fd
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._scanned: tuple[float, tuple[str, ...]] | None = None

    def status(self) -> StatsStatus:
        own = self.own_fd() if callable(self.own_fd) else self.own_fd
        return probe_stats(own, self._holders)

    def _holders(self) -> tuple[str, ...]:
        with self._lock:
            now = self._clock()
            if self._scanned is None or now - self._scanned[0] >= self.max_age:
                self._scanned = (now, scan_stats_holders())
            return self._scanned[1]
