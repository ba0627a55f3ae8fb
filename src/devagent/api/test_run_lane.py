"""At most a few test runs at once in one server (api.test_run).

A test run holds a worker thread for as long as the kernel runs the program (up to the query
timeout): without a bound, 40 of them took every worker and the server answered nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

AT_ONCE = 2
# How long a test run waits for another to end before it is turned away: waiting longer would
# hold a worker thread too.
LANE_WAIT = 0.5


class TestRunLane:
    """At most `width` test runs at once; one more waits up to `wait` s for its turn."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, width: int = AT_ONCE, wait: float = LANE_WAIT) -> None:
        self.width = width
        self.wait = wait
        self._slots = threading.BoundedSemaphore(width)

    @contextmanager
    def turn(self, wait: float) -> Iterator[bool]:
        """Inside: True when this run may go on, False when `width` run already (after
        waiting at most `wait` s, and never more than the lane's own wait)."""
        got = self._slots.acquire(timeout=max(0.0, min(self.wait, wait)))
        try:
            yield got
        finally:
            if got:
                self._slots.release()
