"""The server's BPF_ENABLE_STATS fd, held by policy: on demand (the default), always, never.

run_cnt and run_time_ns move only while statistics are on, and an agent started without a
flag used to leave every rate unknown. On demand, the server takes the fd when someone
watches (a UI page polling rates, `top --agent`, a GraphQL query asking rates,
programStats or host) and closes it once nobody has watched for `idle_after` seconds, as
bpftop holds it only while it runs: statistics cost a little on every program run, so an
agent nobody looks at should not keep them on. `--enable-stats` holds it from start to
exit, `--no-enable-stats` never takes it.

A small thread waits for the idle time while the fd is held on demand and ends with the
release, so an idle agent runs no thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..bpf.handles import Fd
from ..bpf.stats import hold_stats

ON_DEMAND = "ON_DEMAND"
ALWAYS = "ALWAYS"
NEVER = "NEVER"
POLICIES = (ON_DEMAND, ALWAYS, NEVER)
THREAD_NAME = "phydev-stats-hold"
# How long statistics stay on after the last watcher left (--stats-idle).
DEFAULT_IDLE_SECONDS = 300.0

HOW_TO_CHANGE = {
    ON_DEMAND: "start the server with --enable-stats to keep them always on, or "
    "--no-enable-stats never to take them",
    ALWAYS: "start the server without --enable-stats to hold them only while someone "
    "watches, or with --no-enable-stats never to take them",
    NEVER: "start the server without --no-enable-stats to hold them while someone watches, "
    "with --enable-stats always, or set sysctl kernel.bpf_stats_enabled=1",
}


def policy_from_flag(enable_stats: bool | None) -> str:
    """The policy of `--enable-stats` (True), `--no-enable-stats` (False) or neither (None)."""
    return ON_DEMAND if enable_stats is None else ALWAYS if enable_stats else NEVER


class StatsHold:
    """A BPF_ENABLE_STATS fd held by `policy`. Thread-safe.

    `take` returns (fd or None, why not), as bpf.stats.hold_stats; a refusal is remembered
    in `problem` and not retried (the kernel lacks the command or we lack the privilege:
    neither changes while we run).
    """

    def __init__(
        self,
        policy: str = ON_DEMAND,
        idle_after: float = DEFAULT_IDLE_SECONDS,
        *,
        take: Callable[[], tuple[Fd | None, str | None]] = hold_stats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"stats policy {policy!r} is not one of {', '.join(POLICIES)}")
        self.policy = policy
        self.idle_after = idle_after
        self.problem: str | None = None
        self._take = take
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._fd: Fd | None = None
        self._thread: threading.Thread | None = None
        self._last_watch = float("-inf")
        self.takes = 0  # how many times the fd was taken (for tests)

    @property
    def held(self) -> bool:
        """Whether this process holds the fd now."""
        with self._lock:
            return self._fd is not None

    def start(self) -> str | None:
        """Take the fd now if the policy is ALWAYS; why it could not be had, or None."""
        if self.policy == ALWAYS:
            with self._lock:
                self._acquire_locked()
        return self.problem

    def watch(self) -> None:
        """Someone watches: on demand, take the fd (if not held) and keep it `idle_after`
        more seconds. Nothing for the other policies."""
        if self.policy != ON_DEMAND or self._closed.is_set():
            return
        with self._lock:
            self._last_watch = self._clock()
            if self._fd is None and self._acquire_locked() and self._thread is None:
                self._thread = threading.Thread(
                    target=self._release_when_idle, name=THREAD_NAME, daemon=True
                )
                self._thread.start()

    def describe(self) -> str:
        """The policy in words, with how to change it (for the UI and the API)."""
        if self.policy == ALWAYS:
            what = "always on: this agent holds a BPF_ENABLE_STATS fd while it runs"
        elif self.policy == NEVER:
            what = "never: this agent does not turn run statistics on (--no-enable-stats)"
        else:
            state = "held now" if self.held else "not held now"
            what = (
                "on demand: this agent holds a BPF_ENABLE_STATS fd while someone watches rates "
                f"and lets it go {self.idle_after:g} s after the last look ({state})"
            )
        if self.problem is not None and self.policy != NEVER:
            what += f"; but {self.problem}"
        return f"{what}. To change: {HOW_TO_CHANGE[self.policy]}"

    def close(self) -> None:
        """Let the fd go for good (server exit)."""
        self._closed.set()
        with self._lock:
            thread, self._thread = self._thread, None
            self._release_locked()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _acquire_locked(self) -> bool:
        if self._fd is None and self.problem is None and not self._closed.is_set():
            self._fd, self.problem = self._take()
            self.takes += self._fd is not None
        return self._fd is not None

    def _release_locked(self) -> None:
        if self._fd is not None:
            self._fd.close()
            self._fd = None

    def _release_when_idle(self) -> None:
        while True:
            with self._lock:
                left = self._last_watch + self.idle_after - self._clock()
                if left <= 0 or self._closed.is_set():
                    self._release_locked()
                    self._thread = None
                    return
            self._closed.wait(left)
