"""Counter readings taken in the background, but only while someone is watching.

The server answers rates and history (Program.eventsPerSecond, Query.programStats, ...) from
readings a WatchedSampler takes every `interval` seconds into a History. Asking for them
counts as watching; when nobody has asked for `idle_after` seconds (60 by default) the
sampling thread ends and the history is dropped, so an agent nobody watches reads nothing
from the kernel and runs no thread: idle CPU stays at zero.

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
        probe: StatsProbe | None = None,
        reader: Callable[[], Callable[[], ProgramCounters]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.history = history or History()
        self.interval = interval
        self.idle_after = idle_after
        self.first_interval = first_interval
        self.probe = probe or StatsProbe()
        self._new_reader = reader or (lambda: CounterSource().read)
        self._clock = clock
        self._lock = threading.Lock()
        self._readings_changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_watch = float("-inf")
        self._reads = 0
        self.last_error: str | None = None

    @property
    def reads(self) -> int:
        """How many kernel readings this sampler has taken (for tests and benchmarks)."""
        return self._reads

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def watch(self, wait: float = 1.0) -> None:
        """Someone is watching: keep (or start) sampling for `idle_after` more seconds. If
        the history has fewer than two readings, wait up to `wait` seconds for them."""
        with self._lock:
            self._last_watch = self._clock()
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()
            deadline = time.monotonic() + wait
            while len(self.history) < 2 and self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._readings_changed.wait(left)

    def latest_rates(self) -> Rates | None:
        """Rates over the latest interval between two readings (watching, see `watch`)."""
        self.watch()
        return self.history.latest_rates()

    def series(self, ids: Iterable[int] | None, seconds: float) -> list[StatsSeries]:
        """Time series from the history (watching, see `watch`)."""
        self.watch()
        return self.history.series(ids, seconds)

    def stats_status(self) -> StatsStatus:
        return self.probe.status()

    def stop(self) -> None:
        """End the sampling thread for good (server shutdown)."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(5)

    def _run(self) -> None:
        read = self._new_reader()
        next_at = self._clock()
        while not self._stop.is_set():
            try:
                counters = read()
                enabled = self.probe.status().enabled
            except BPFError as exc:
                self.last_error = str(exc)
                log.warning("sampling program counters failed, stopping: %s", exc)
                self._finish()
                return
            self.history.add(counters, enabled)
            with self._lock:
                self._reads += 1
                self._readings_changed.notify_all()
                if self._clock() - self._last_watch >= self.idle_after:
                    self._finish_locked()
                    return
            next_at += self.first_interval if len(self.history) < 2 else self.interval
            self._stop.wait(max(0.0, next_at - self._clock()))
        self._finish()

    def _finish(self) -> None:
        with self._lock:
            self._finish_locked()

    def _finish_locked(self) -> None:
        """Nobody watches (or shutdown): drop the thread and the history it filled."""
        self._thread = None
        self.history.clear()
        self._readings_changed.notify_all()
