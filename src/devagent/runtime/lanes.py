"""At most a few of one kind of work at once, so that it cannot take every worker thread.

A request runs in a worker thread that nothing can interrupt, and some requests hold theirs
for long: a big or costly GraphQL query (parsing, executing, encoding), a test run (as long
as the kernel runs the program). Without a bound, 40 test runs took every worker and the
server answered nothing else. A lane lets `width` in at once; one more waits a moment for
its turn and is then turned away: waiting longer would hold a worker that cheap requests
(the explorer's pages, scrapes) need.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .budget import QueryAborted

BUSY = "the server is busy with other costly queries: retry in a moment, or ask for less"


class Lane:
    """At most `width` holders at once; one more waits up to `wait` s for its turn."""

    def __init__(self, width: int, wait: float) -> None:
        self.width = width
        self.wait = wait
        self._slots = threading.BoundedSemaphore(width)

    @contextmanager
    def turn(self, wait: float | None = None) -> Iterator[bool]:
        """Inside: True when this one may go on, False when `width` are in already (after
        waiting at most `wait` s, and never more than the lane's own wait)."""
        got = self._slots.acquire(
            timeout=self.wait if wait is None else max(0.0, min(self.wait, wait))
        )
        try:
            yield got
        finally:
            if got:
                self._slots.release()

    @contextmanager
    def turn_or_busy(self) -> Iterator[None]:
        """A turn, or QueryAborted (503) for a request that could not get one."""
        with self.turn() as got:
            if not got:
                raise QueryAborted(BUSY, 503)
            yield
