"""Timing helpers: whole processes (wall time and peak RSS via wait4), and summaries."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median and range of repeated samples, in the samples' unit."""

    median: float
    low: float
    high: float
    n: int

    @staticmethod
    def of(samples: Sequence[float]) -> Summary:
        return Summary(statistics.median(samples), min(samples), max(samples), len(samples))

    def fmt(self, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
        m, lo, hi = (x * scale for x in (self.median, self.low, self.high))
        return f"{m:.{digits}f} {unit} ({lo:.{digits}f}–{hi:.{digits}f}, n={self.n})"


def run_process(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run argv with stdout to /dev/null; return (wall seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.decode()[-500:]}")
    return wall, int(usage.ru_maxrss)


def time_processes(argv: Sequence[str], repeat: int) -> tuple[Summary, Summary]:
    """(wall time, peak RSS KiB) summaries of `repeat` runs, after one warm-up run."""
    run_process(argv)
    walls, rss = [], []
    for _ in range(repeat):
        wall, peak = run_process(argv)
        walls.append(wall)
        rss.append(float(peak))
    return Summary.of(walls), Summary.of(rss)


def time_calls(func: Callable[[], object], repeat: int) -> Summary:
    """Wall time of `repeat` calls, after one warm-up call."""
    func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return Summary.of(samples)
