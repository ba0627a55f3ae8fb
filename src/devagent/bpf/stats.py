"""Run-time statistics (run_cnt, run_time_ns): the sysctl, and fds that hold them on.

The kernel keeps one static key for statistics, bumped by `kernel.bpf_stats_enabled=1` and by
every BPF_ENABLE_STATS fd. The sysctl, though, reads back only its own setting
(kernel/bpf/syscall.c `bpf_stats_handler` keeps a `saved_val`), so it says 0 while a process
holds a stats fd. To know whether statistics are on, look for `anon_inode:bpf-stats` fds too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from . import _sys, procfs
from ._sys import Cmd
from .errors import BPFError
from .handles import Fd

SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"
STATS_FD = "anon_inode:bpf-stats"


def enable_stats() -> Fd:
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): statistics stay on until the fd is closed."""
    attr = _sys.EnableStatsAttr(type=_sys.BPF_STATS_RUN_TIME)
    return Fd(_sys.bpf(Cmd.ENABLE_STATS, attr, what="run-time statistics"))


def hold_stats() -> tuple[Fd | None, str | None]:
    """A held BPF_ENABLE_STATS fd, or None and why not: callers go on without it (run counts
    and times then move only while the sysctl is on)."""
    try:
        return enable_stats(), None
    except BPFError as exc:
        why = str(exc)
        if exc.errno == errno.EINVAL:  # the command itself is unknown (before Linux 5.8)
            why = "this kernel has no BPF_ENABLE_STATS (Linux 5.8+)"
    return None, f"{why}: run counts and times move only with sysctl kernel.bpf_stats_enabled=1"


def sysctl_enabled() -> bool:
    """Whether `kernel.bpf_stats_enabled` is set (says nothing of held stats fds)."""
    try:
        with open(SYSCTL) as f:
            return f.read().strip() not in ("", "0")
    except OSError:
        return False


def holds_stats_fd(pid: int) -> bool:
    """Whether a process holds a BPF_ENABLE_STATS fd."""
    return any(target == STATS_FD for _, target in procfs.iter_fds(pid))


def any_holds_stats_fd(pids: Iterable[int] | None = None) -> bool:
    """Whether any of `pids` (default: every process) holds a BPF_ENABLE_STATS fd."""
    return any(holds_stats_fd(p) for p in (procfs.iter_pids() if pids is None else pids))


def stats_fd_holders(pids: Iterable[int] | None = None) -> list[int]:
    """Pids (of `pids`, default every process) holding a BPF_ENABLE_STATS fd."""
    return [p for p in (procfs.iter_pids() if pids is None else pids) if holds_stats_fd(p)]


def stats_enabled() -> bool:
    """Whether the kernel collects run statistics now: the sysctl, or any held stats fd
    (ours first, as it is the cheapest to check; then every other process's)."""
    own = os.getpid()
    if sysctl_enabled() or holds_stats_fd(own):
        return True
    return any_holds_stats_fd(p for p in procfs.iter_pids() if p != own)
