"""The server's worker threads: blocking work (kernel walks, GraphQL execution, a scrape's
rendering) runs here, never on the event loop.

Before, each request hopped through `anyio.to_thread.run_sync`: a capacity limiter, a
cancel scope, a copied context and a `queue.Queue` (a Condition in Python) per call. On
this project's VM, after a second of idling (every UI poll), that hop cost ~0.2 ms more
than this one, a fifteenth of a small Navigation poll (A/B in bench/NOTES.md). Here a call is one
`SimpleQueue.put` to a waiting thread and one `call_soon_threadsafe` back.

Like anyio, work goes to the most recently idle thread: under one client at a time a single
thread does everything, stays warm, and only its malloc arena grows. (A ThreadPoolExecutor,
which lets whichever idle thread wake, grew the server from ~65 to ~127 MiB under 8
clients.) A thread idle for `idle_seconds` ends; past `max_threads` busy ones, calls wait
in order.

As with anyio's default, a call cannot be abandoned: when the awaiting task is cancelled,
it still waits for its thread to finish (the work stops early through its own means, e.g.
api.budget), then the cancellation goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class WorkerThreads:
    """Runs blocking calls in reused daemon threads; `await pool.run(fn, *args)`."""

    def __init__(self, max_threads: int = 40, idle_seconds: float = 10.0) -> None:
        self.max_threads = max_threads
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # the last one is the most recently idle
        self._waiting: deque[_Job] = deque()  # calls made while max_threads were busy
        self._threads = 0

    @property
    def threads(self) -> int:
        """Threads alive now (busy or idle)."""
        return self._threads

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in a worker thread; its result, or its exception raised here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._submit((loop, future, fn, args))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Not abandoned: wait for the thread to finish, then let the cancellation go on.
            while not future.done():
                try:
                    await asyncio.shield(future)
                except asyncio.CancelledError:
                    continue
                except BaseException:  # the call's own failure: cancelled anyway
                    break
            raise

    def _submit(self, job: _Job) -> None:
        with self._lock:
            if self._idle:
                self._idle.pop().jobs.put(job)  # under the lock: see _Worker.run
                return
            if self._threads >= self.max_threads:
                self._waiting.append(job)
                return
            self._threads += 1
        _Worker(self, job).start()

    def _next_job(self, worker: _Worker) -> _Job | None:
        """The next waiting call for a worker that finished one, or None (it is idle now)."""
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            self._idle.append(worker)
            return None

    def _retire(self, worker: _Worker) -> bool:
        """Whether a worker idle for idle_seconds may end: not when a call was just given
        to it (the call is in its queue already, put under the same lock)."""
        with self._lock:
            if worker not in self._idle:
                return False
            self._idle.remove(worker)
            self._threads -= 1
            return True


class _Worker(threading.Thread):
    def __init__(self, pool: WorkerThreads, first: _Job) -> None:
        super().__init__(name="phydev-worker", daemon=True)
        self.pool = pool
        self.first: _Job | None = first
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()

    def run(self) -> None:
        job, self.first = self.first, None
        while True:
            if job is None:
                try:
                    job = self.jobs.get(timeout=self.pool.idle_seconds)
                except queue.Empty:
                    if self.pool._retire(self):
                        return
                    continue
            outcome = _call(job)
            # Idle again before the caller hears back: its next call comes to this thread.
            job = self.pool._next_job(self)
            _post(outcome)
            del outcome  # nothing of the call outlives it in this thread


_Outcome = tuple[asyncio.AbstractEventLoop, Callable[..., None], "asyncio.Future[Any]", Any]


def _call(job: _Job) -> _Outcome:
    loop, future, fn, args = job
    try:
        return loop, _set_result, future, fn(*args)
    except BaseException as exc:
        return loop, _set_exception, future, exc


def _post(outcome: _Outcome) -> None:
    """Hand a call's outcome to the awaiting loop (a loop closed meanwhile is ignored)."""
    loop, setter, future, value = outcome
    with contextlib.suppress(RuntimeError):  # closed: the server shut down, nobody awaits
        loop.call_soon_threadsafe(setter, future, value)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


worker_threads = WorkerThreads()  # the server's one pool
