"""Timing helpers: whole processes (wall time; peak RSS through GNU time), and summaries."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TIME = "/usr/bin/time"  # GNU time (Debian package `time`; bench/run installs it)


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


def run_process(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """Run argv with stdout to /dev/null; return its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall


def peak_rss_kib(argv: Sequence[str]) -> int:
    """Peak RSS of argv, measured by GNU time (which forks it from its own ~2 MiB process).

    Not wait4() from here: Linux carries a process's RSS high-water mark across exec, so a
    child forked from this (big) Python process would report at least our own RSS; that made
    every small command look like ~40 MiB in earlier reports.
    """
    with tempfile.NamedTemporaryFile("r") as out:
        run_process([TIME, "-f", "%M", "-o", out.name, *argv])
        return int(out.read().split()[-1])


def time_processes(argv: Sequence[str], repeat: int) -> tuple[Summary, Summary]:
    """(wall time, peak RSS KiB) summaries: `repeat` timed runs after one warm-up run, and
    three runs under GNU time for the RSS."""
    run_process(argv)
    walls = [run_process(argv) for _ in range(repeat)]
    rss = [float(peak_rss_kib(argv)) for _ in range(3)]
    return Summary.of(walls), Summary.of(rss)


def time_interleaved(argvs: Sequence[Sequence[str]], repeat: int) -> list[Summary]:
    """Wall times of several commands run in turn, `repeat` rounds after one warm-up round:
    on a VM whose speed drifts over minutes, ratios between them stay fair."""
    for argv in argvs:
        run_process(argv)
    walls: list[list[float]] = [[] for _ in argvs]
    for _ in range(repeat):
        for samples, argv in zip(walls, argvs, strict=True):
            samples.append(run_process(argv))
    return [Summary.of(samples) for samples in walls]


def p50_p99(samples: Sequence[float]) -> tuple[float, float]:
    """The median and the 99th percentile (the sample at index int(n * 0.99) in order)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_calls(func: Callable[[], object], repeat: int) -> Summary:
    """Wall time of `repeat` calls, after one warm-up call."""
    func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return Summary.of(samples)
