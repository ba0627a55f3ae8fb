"""Giving freed memory back to the system.

After a big map's read is dropped, its buffers and the many small objects built while
formatting it are free inside the process, but glibc keeps the heap pages (and the sbrk top
is often pinned by a later allocation), so RSS would stay at its peak. `malloc_trim(0)`
returns every whole free page; elsewhere (musl, ...) this does nothing.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

from ..bpf._sys import libc


def freeze_long_lived() -> None:
    """Move every object alive now out of the collector's sight (after a collection, so no
    garbage is kept): modules, schemas and caches that live as long as the process would
    otherwise be walked by every full collection. Each such walk of the GraphQL stack's
    objects paused a request for ~20 ms every few UI polls."""
    gc.collect()
    gc.freeze()


def release_free_memory() -> None:
    """Collect garbage, then ask the C library to return free heap pages to the kernel."""
    gc.collect()
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def later(delay: float, action: Callable[[], None]) -> None:
    """Run `action` once, `delay` seconds from now, on a daemon thread (never the kernel poll
    the design forbids: the actions here only drop what can no longer be served)."""
    timer = threading.Timer(delay + 0.05, action)
    timer.daemon = True
    timer.start()


# mallopt(3) parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_BIG = 128 * 1024


def tune_allocator() -> None:
    """Keep glibc from holding on to the server's big transient buffers.

    Responses and map reads are hundreds of KB each, made and freed by several worker
    threads at once. glibc serves such sizes with mmap at first, but each free raises its
    mmap threshold (up to 32 MiB), after which they come from the heaps and fragment them:
    8 clients polling 1000 programs grew the server from 50 to 98 MiB, kept for good. With
    the threshold fixed at 128 KiB they stay mmapped and go back at free (67 MiB in the same
    run, the rest being live caches). No effect outside glibc.
    """
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _BIG)
        mallopt(_M_TRIM_THRESHOLD, _BIG)


class IdleTrimmer:
    """Calls release_free_memory once the server has been quiet for `quiet` seconds after
    work (`touch()` per request); one timer at a time, no thread while idle, never a
    kernel read.

    The default outlasts the time between two polls of an open UI tab (2 s, or 5 s for the
    maps and links pages; the explorer's 2 s): at 2 s, a full collection and a trim ran
    between every two polls, and the next poll paid for giving the pages back (p90 of a
    ~50-object poll every 2.2 s: 4.2 ms with those trims, 3.8 ms without)."""

    def __init__(self, quiet: float = 6.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self._clock = clock
        self._lock = threading.Lock()
        self._last = 0.0
        self._armed = False
        self.trims = 0

    @property
    def armed(self) -> bool:
        """Whether a timer is waiting to trim."""
        return self._armed

    def touch(self) -> None:
        with self._lock:
            self._last = self._clock()
            if self._armed:
                return
            self._armed = True
        later(self.quiet, self._fire)

    def _fire(self) -> None:
        with self._lock:
            wait = self._last + self.quiet - self._clock()
            if wait > 0:
                later(wait, self._fire)
                return
            self._armed = False
        release_free_memory()
        self.trims += 1
