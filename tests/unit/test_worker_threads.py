"""model.worker_threads: results and errors come back, the most recently idle thread is
reused, busy threads are capped, idle ones end, and a cancelled caller still waits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from devagent.model.worker_threads import WorkerThreads


def test_results_and_exceptions_come_back_to_the_caller() -> None:
    pool = WorkerThreads()

    def fail() -> None:
        raise KeyError("boom")

    async def main() -> None:
        assert await pool.run(lambda a, b: a + b, 2, 3) == 5
        assert await pool.run(threading.get_ident) != threading.get_ident()
        with pytest.raises(KeyError, match="boom"):
            await pool.run(fail)

    asyncio.run(main())


def test_calls_one_after_another_run_on_one_thread() -> None:
    """The most recently idle thread takes the next call: one warm thread, one arena."""
    pool = WorkerThreads()

    async def main() -> set[int]:
        await asyncio.gather(*(pool.run(time.sleep, 0.05) for _ in range(3)))  # 3 threads idle
        return {await pool.run(threading.get_ident) for _ in range(20)}

    assert len(asyncio.run(main())) == 1 and pool.threads == 3


def test_concurrent_calls_get_threads_up_to_the_cap_then_wait() -> None:
    pool = WorkerThreads(max_threads=3)
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def blocked(i: int) -> int:
        with lock:
            started.append(i)
        release.wait(10)
        return i

    async def main() -> list[int]:
        calls = [asyncio.ensure_future(pool.run(blocked, i)) for i in range(6)]
        deadline = time.monotonic() + 5
        while len(started) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert sorted(started) == [0, 1, 2] and pool.threads == 3  # the others wait
        release.set()
        return list(await asyncio.gather(*calls))

    assert asyncio.run(main()) == [0, 1, 2, 3, 4, 5]
    assert sorted(started[3:]) == [3, 4, 5] and pool.threads == 3


def test_idle_threads_end() -> None:
    pool = WorkerThreads(idle_seconds=0.2)

    def nap() -> int:
        time.sleep(0.05)
        return threading.get_ident()

    async def main() -> set[int]:
        return set(await asyncio.gather(*(pool.run(nap) for _ in range(3))))

    assert len(asyncio.run(main())) == 3
    deadline = time.monotonic() + 5
    while pool.threads and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.threads == 0
    assert not [t for t in threading.enumerate() if t.name == "phydev-worker" and t.is_alive()
                and getattr(t, "pool", None) is pool]  # fmt: skip

    async def again() -> int:  # a pool whose threads ended starts new ones
        return await pool.run(lambda: 7)

    assert asyncio.run(again()) == 7


def test_a_cancelled_caller_waits_for_its_thread_then_is_cancelled() -> None:
    """As anyio.to_thread (not abandoned): the work's own deadline stops it early; the
    caller must not outlive what it started."""
    pool = WorkerThreads()
    finished = threading.Event()

    def slow() -> str:
        time.sleep(0.3)
        finished.set()
        return "done"

    async def main() -> tuple[bool, float]:
        call = asyncio.ensure_future(pool.run(slow))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        return finished.is_set(), time.monotonic() - start

    done, waited = asyncio.run(main())
    assert done and waited >= 0.15
