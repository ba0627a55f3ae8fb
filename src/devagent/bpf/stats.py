"""Run-time statistics (run_cnt, run_time_ns) switched on for as long as an fd is held."""

from __future__ import annotations

from . import _sys
from ._sys import Cmd
from .objects import Fd

SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"


def enable_stats() -> Fd:
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): statistics stay on until the fd is closed."""
    attr = _sys.EnableStatsAttr(type=_sys.BPF_STATS_RUN_TIME)
    return Fd(_sys.bpf(Cmd.ENABLE_STATS, attr, what="run-time statistics"))


def stats_enabled() -> bool:
    """Whether the kernel is collecting run statistics now (sysctl or a held stats fd)."""
    try:
        with open(SYSCTL) as f:
            return f.read().strip() != "0"
    except OSError:
        return False
