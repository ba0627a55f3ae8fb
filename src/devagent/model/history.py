"""A bounded in-memory history of program counter readings, and time series made from it.

Memory bound: the history keeps at most `capacity` readings (default 301: five minutes of
1 s intervals). A reading holds 28 bytes per program (a u32 id and three u64 counters in
`array`s, no Python object per program) plus ~400 bytes of fixed overhead, so a full
history costs about `capacity * (28 * programs + 400)` bytes: ~8.6 MB with 1000 programs,
~0.4 MB with 50. Older readings fall out as new ones come in.

Rates between consecutive readings come from `model.rates`, the same code `top` and the
GraphQL fields use.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from ..bpf.run_counters import ProgramCounters
from .rates import Rates, compute_rates, id_index, program_rate

DEFAULT_CAPACITY = 301
READING_OVERHEAD_BYTES = 400


@dataclass(frozen=True)
class Reading:
    """One reading, whether run statistics were on when it was taken, and whether it is the
    first after sampling paused (rates over the pause are unknown: nobody sampled it)."""

    counters: ProgramCounters
    stats_enabled: bool
    after_pause: bool = False


@dataclass(frozen=True)
class StatsPoint:
    """A program at one reading: its counters then, and its rates over the interval that
    ended there (None for its first reading, or with statistics off)."""

    wall_time: float
    run_count: int
    run_time_ns: int
    events_per_second: float | None
    cpu_percent: float | None


@dataclass(frozen=True)
class StatsSeries:
    """The points of one program, oldest first."""

    id: int
    points: list[StatsPoint]


class History:
    """The last `capacity` readings. Thread-safe: a sampler adds while requests read."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("a history needs room for at least two readings")
        self.capacity = capacity
        self._readings: deque[Reading] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._latest_rates: Rates | None = None

    def add(
        self, counters: ProgramCounters, stats_enabled: bool = True, *, after_pause: bool = False
    ) -> None:
        """Append a reading (the oldest falls out when full)."""
        with self._lock:
            self._readings.append(Reading(counters, stats_enabled, after_pause))
            self._latest_rates = None

    def clear(self) -> None:
        """Forget every reading (the memory goes back at once)."""
        with self._lock:
            self._readings.clear()
            self._latest_rates = None

    def __len__(self) -> int:
        return len(self._readings)

    @property
    def nbytes(self) -> int:
        """Bytes the readings hold now (see the module docstring for the bound)."""
        with self._lock:
            readings = list(self._readings)
        return sum(r.counters.nbytes + READING_OVERHEAD_BYTES for r in readings)

    def latest(self) -> Reading | None:
        with self._lock:
            return self._readings[-1] if self._readings else None

    def latest_rates(self) -> Rates | None:
        """Rates over the interval between the last two readings (None until there are
        two). Computed once per reading and shared."""
        with self._lock:
            if self._latest_rates is None and len(self._readings) >= 2:
                before, after = self._readings[-2], self._readings[-1]
                self._latest_rates = _rates(before, after)
            return self._latest_rates

    def series(
        self, ids: Iterable[int] | None = None, seconds: float = 300.0, now: float | None = None
    ) -> list[StatsSeries]:
        """Time series of the programs `ids` (default: those in the latest reading) over
        the `seconds` before `now` (wall time; default: the latest reading's), one point per
        reading in which the program was present."""
        with self._lock:
            readings = list(self._readings)
        if not readings:
            return [StatsSeries(i, []) for i in ids or ()]
        wanted = list(readings[-1].counters.ids) if ids is None else list(dict.fromkeys(ids))
        since = (readings[-1].counters.wall_time if now is None else now) - seconds
        first = next(
            (k for k, r in enumerate(readings) if r.counters.wall_time >= since), len(readings)
        )
        points: dict[int, list[StatsPoint]] = {i: [] for i in wanted}
        previous = id_index(readings[first - 1].counters) if first > 0 else None
        for k in range(first, len(readings)):
            after = readings[k].counters
            index = id_index(after)
            known = previous is not None and readings[k - 1].stats_enabled
            known = known and readings[k].stats_enabled and not readings[k].after_pause
            for prog_id in wanted:
                j = index.get(prog_id)
                if j is None:
                    continue
                rate = None
                if known and previous is not None:
                    rate = program_rate(readings[k - 1].counters, previous.get(prog_id), after, j)
                points[prog_id].append(
                    StatsPoint(
                        after.wall_time,
                        after.run_count[j],
                        after.run_time_ns[j],
                        rate.events_per_second if rate else None,
                        rate.cpu_percent if rate else None,
                    )
                )
            previous = index
        return [StatsSeries(i, points[i]) for i in wanted]


def _rates(before: Reading, after: Reading) -> Rates:
    known = before.stats_enabled and after.stats_enabled and not after.after_pause
    return compute_rates(before.counters, after.counters, known)
