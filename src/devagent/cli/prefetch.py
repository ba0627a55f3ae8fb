"""Running an iterator one step ahead on a worker thread.

A whole-map dump alternates between the kernel copying a batch (the bpf() call through ctypes
releases the GIL) and Python formatting the previous one. Done one after the other, the two
add up; with the next batch fetched on a second thread while this one formats, the dump takes
about as long as the slower of the two.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class Prefetcher(Generic[T]):
    """Iterate `source` on a worker thread, at most `depth` items ahead of the consumer.

    Exceptions from `source` are raised to the consumer in order. `close()` stops the worker
    and waits for it; call it (e.g. through contextlib.closing) before releasing anything
    `source` uses, whether or not iteration finished.
    """

    def __init__(self, source: Iterator[T], depth: int = 2) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._worker.start()

    def _offer(self, item: object) -> bool:
        """Queue `item` unless the consumer has gone; False once it has."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._offer(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._offer(exc)
            return
        self._offer(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._worker.join()
