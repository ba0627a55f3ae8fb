"""Per-program rates over one interval: events/s, CPU %, average run time, recursion misses/s.

The kernel keeps running totals (run_cnt, run_time_ns, recursion_misses in bpf_prog_info);
a rate is the difference of two readings divided by the CLOCK_MONOTONIC time measured
between them. This is the one implementation behind `phydev top` (local and through the
API), the GraphQL fields and the history, so every view shows the same numbers.

Rules:
- a program in the later reading but not the earlier one appeared during the interval: its
  rates are None (no baseline; a partial count would be a lie);
- a program in the earlier reading only has vanished: it is not in the result;
- a counter that went backwards (the id now names another program) gives None too;
- while run statistics are off the counters stand still although programs run, so every
  rate is None rather than a misleading 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bpf.run_counters import ProgramCounters

NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True)
class ProgramRate:
    """One program's rates over an interval (None: unknown, see the module docstring).

    `cpu_percent` is of one core (100 = one CPU busy running the program); the average run
    time is None when the program did not run in the interval.
    """

    id: int
    events_per_second: float | None
    cpu_percent: float | None
    avg_run_time_ns: float | None
    recursion_misses_per_second: float | None


def unknown_rate(prog_id: int) -> ProgramRate:
    """The rates of a program that has no baseline."""
    return ProgramRate(prog_id, None, None, None, None)


@dataclass(frozen=True)
class Rates:
    """Rates of every program of the later reading over one interval.

    `interval` is in seconds, `wall_time` the Unix time at the end of the interval.
    """

    interval: float
    wall_time: float
    stats_enabled: bool
    programs: dict[int, ProgramRate]

    def get(self, prog_id: int) -> ProgramRate:
        """The program's rates; unknown ones for a program not in the later reading."""
        return self.programs.get(prog_id) or unknown_rate(prog_id)

    @property
    def total_cpu_percent(self) -> float | None:
        """CPU % of one core spent in all programs with known rates (None with stats off)."""
        return self._total("cpu_percent")

    @property
    def total_events_per_second(self) -> float | None:
        """Runs per second of all programs with known rates (None with stats off)."""
        return self._total("events_per_second")

    def _total(self, field: str) -> float | None:
        if not self.stats_enabled:
            return None
        values = [getattr(r, field) for r in self.programs.values()]
        return float(sum(v for v in values if v is not None))


def compute_rates(
    before: ProgramCounters, after: ProgramCounters, stats_enabled: bool = True
) -> Rates:
    """Rates of every program of `after` over the interval since `before`."""
    interval_ns = after.monotonic_ns - before.monotonic_ns
    interval = max(interval_ns, 0) / NS_PER_SECOND
    if interval_ns <= 0 or not stats_enabled:
        programs = {i: unknown_rate(i) for i in after.ids}
        return Rates(interval, after.wall_time, stats_enabled, programs)
    index = id_index(before)
    programs = {
        prog_id: program_rate(before, index.get(prog_id), after, k)
        for k, prog_id in enumerate(after.ids)
    }
    return Rates(interval, after.wall_time, stats_enabled, programs)


def id_index(counters: ProgramCounters) -> dict[int, int]:
    """Program id -> its position in the reading's arrays."""
    return {prog_id: k for k, prog_id in enumerate(counters.ids)}


def program_rate(
    before: ProgramCounters, j: int | None, after: ProgramCounters, k: int
) -> ProgramRate:
    """The rates of the program at position `k` of `after`, whose position in `before` is
    `j` (None: it was not there). Statistics are assumed on (see compute_rates)."""
    prog_id = after.ids[k]
    interval_ns = after.monotonic_ns - before.monotonic_ns
    if j is None or interval_ns <= 0:
        return unknown_rate(prog_id)
    runs = after.run_count[k] - before.run_count[j]
    run_ns = after.run_time_ns[k] - before.run_time_ns[j]
    misses = after.recursion_misses[k] - before.recursion_misses[j]
    if runs < 0 or run_ns < 0 or misses < 0:
        return unknown_rate(prog_id)
    interval = interval_ns / NS_PER_SECOND
    return ProgramRate(
        prog_id,
        events_per_second=runs / interval,
        cpu_percent=100.0 * run_ns / interval_ns,
        avg_run_time_ns=run_ns / runs if runs else None,
        recursion_misses_per_second=misses / interval,
    )
