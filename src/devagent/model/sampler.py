"""Counter readings taken in the background, but only while someone is watching.

The server answers rates and history (Program.eventsPerSecond, Query.programStats, ...) from
readings a WatchedSampler takes every `interval` seconds into a History. Asking for them
counts as watching; when nobody has asked for `idle_after` seconds (60 by default) the
sampler stops reading, so an agent nobody watches reads nothing from the kernel: idle CPU
stays at zero.

The history outlives a pause: the UI promises the last five minutes of rates, and a reader
who comes back after two idle minutes still gets the three before them (rates across the
pause are unknown, not averaged). The sampling thread rests, reading nothing, until the
newest reading is `keep_after_idle` seconds old (the history's span by default); only then
is the history dropped and the thread ended, so the memory goes back and no thread runs.

A reading costs only what rates need (bpf.counters: ids and three counters per program),
never a full walk of maps, links, pins or owners.

The first request after a quiet period waits for two readings `first_interval` apart (0.25 s
by default) so that it gets rates at once instead of nulls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from ..bpf.errors import BPFError
from ..bpf.iter.walkers import CounterSource
from ..bpf.run_counters import ProgramCounters
from .history import History, StatsSeries
from .rates import Rates
from .stats_hold import NEVER, StatsHold
from .stats_mode import StatsProbe, StatsStatus

log = logging.getLogger("devagent.sampler")
THREAD_NAME = "phydev-sampler"


class WatchedSampler:
    """Samples program counters into `history` while watched. Thread-safe."""

    def __init__(
        self,
        history: History | None = None,
        *,
        interval: float = 1.0,
        idle_after: float = 60.0,
        first_interval: float = 0.25,
        keep_after_idle: float | None = None,
        probe: StatsProbe | None = None,
        stats_hold: StatsHold | None = None,
        reader: Callable[[], Callable[[], ProgramCounters]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.history = history or History()
        self.interval = interval
        self.idle_after = idle_after
        self.first_interval = first_interval
        # How long readings stay after sampling paused: as long as they can be shown.
        self.keep_after_idle = (
            self.history.capacity * interval if keep_after_idle is None else keep_after_idle
        )
        self.probe = probe or StatsProbe()
        # The server's BPF_ENABLE_STATS fd: watching takes it when held on demand (none
        # is ever taken without one: a sampler outside the server turns nothing on).
        self.stats_hold = stats_hold or StatsHold(NEVER)
        self._new_reader = reader or (lambda: CounterSource().read)
        self._clock = clock
        self._lock = threading.Lock()
        self._readings_changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # a watcher came while the thread rests
        self._resting = False
        self._last_watch = float("-inf")
        self._reads = 0
        self._fresh = 0  # readings since sampling (re)started: rates need two
        self.last_error: str | None = None

    @property
    def reads(self) -> int:
        """How many kernel readings this sampler has taken (for tests and benchmarks)."""
        return self._reads

    @property
    def running(self) -> bool:
        """Whether it is sampling now (not resting after watchers left, not ended)."""
        with self._lock:
            return self._thread is not None and not self._resting

    @property
    def thread_alive(self) -> bool:
        """Whether its thread is alive (sampling, or resting with the history kept)."""
        with self._lock:
            return self._thread is not None

    def watch(self, wait: float = 1.0) -> None:
        """Someone is watching: keep (or start) sampling for `idle_after` more seconds. If
        sampling only (re)starts now, wait up to `wait` seconds for two readings: rates
        across the pause are unknown, so the latest rates need two new ones."""
        self.stats_hold.watch()
        with self._lock:
            self._last_watch = self._clock()
            if self._thread is None and not self._stop.is_set():
                self._fresh = 0
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            elif self._resting:
                self._resting = False
                self._fresh = 0
                self._wake.set()
            deadline = time.monotonic() + wait
            while self._fresh < 2 and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._readings_changed.wait(left)

    def latest_rates(self) -> Rates | None:
        """Rates over the latest interval between two readings (watching, see `watch`)."""
        self.watch()
        return self.history.latest_rates()

    def series(self, ids: Iterable[int] | None, seconds: float) -> list[StatsSeries]:
        """Time series of the last `seconds` from now, from the history (watching, see
        `watch`)."""
        self.watch()
        return self.history.series(ids, seconds, now=time.time())

    def stats_status(self) -> StatsStatus:
        """How statistics are collected now. Asking counts as watching them: a hold on
        demand takes its fd first, so the answer is what the asker is about to see."""
        self.stats_hold.watch()
        return self.probe.status()

    def stop(self) -> None:
        """End the sampling thread for good (server shutdown)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(5)

    def _run(self) -> None:
        read = self._new_reader()
        next_at = self._clock()
        after_pause = False
        while not self._stop.is_set():
            try:
                counters = read()
                enabled = self.probe.status().enabled
            except BPFError as exc:
                self.last_error = str(exc)
                log.warning("sampling program counters failed, stopping: %s", exc)
                self._finish()
                return
            self.history.add(counters, enabled, after_pause=after_pause)
            after_pause = False
            with self._lock:
                self._reads += 1
                self._fresh += 1
                self._readings_changed.notify_all()
                idle = self._clock() - self._last_watch >= self.idle_after
                self._resting = idle
            if idle:
                if not self._rest():
                    return
                after_pause = True
                next_at = self._clock()
                continue
            next_at += self.first_interval if self._fresh < 2 else self.interval
            self._stop.wait(max(0.0, next_at - self._clock()))
        self._finish()

    def _rest(self) -> bool:
        """Nobody watches: read nothing until someone does (True: sample again) or the
        history is too old to show (False: dropped, the thread ends)."""
        self._wake.wait(self.keep_after_idle)
        with self._lock:
            self._wake.clear()
            watched = self._clock() - self._last_watch < self.idle_after
            if self._stop.is_set() or not watched:
                self._finish_locked()
                return False
            self._resting = False
            self._fresh = 0
            return True

    def _finish(self) -> None:
        with self._lock:
            self._finish_locked()

    def _finish_locked(self) -> None:
        """Nobody watched for long (or shutdown): drop the thread and the history it filled."""
        self._thread = None
        self._resting = False
        self.history.clear()
        self._readings_changed.notify_all()
