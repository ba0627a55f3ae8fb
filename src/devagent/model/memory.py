"""Giving freed memory back to the system.

After a big map's read is dropped, its buffers and the many small objects built while
formatting it are free inside the process, but glibc keeps the heap pages (and the sbrk top
is often pinned by a later allocation), so RSS would stay at its peak. `malloc_trim(0)`
returns every whole free page; elsewhere (musl, ...) this does nothing.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

from ..bpf._sys import libc


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
