"""Prefetcher: same items in the same order, errors where they happened, and a worker that
stops when the consumer does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from devagent.cli.prefetch import Prefetcher


def test_items_come_in_order_and_ahead_of_the_consumer() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(50):
            produced.append(i)
            yield i

    with closing(Prefetcher(source(), depth=2)) as ahead:
        it = iter(ahead)
        assert next(it) == 0
        for _ in range(200):  # the worker runs ahead, bounded by depth
            if len(produced) >= 3:
                break
            threading.Event().wait(0.01)
        assert 3 <= len(produced) <= 4
        assert list(it) == list(range(1, 50))


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError(9, "map fd closed")

    got: list[int] = []
    with closing(Prefetcher(source())) as ahead, pytest.raises(OSError, match="map fd closed"):
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_close_stops_a_worker_that_is_waiting_for_room() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            n += 1
            yield n

    ahead = Prefetcher(endless(), depth=1)
    assert next(iter(ahead)) == 1
    ahead.close()  # returns: the worker noticed and left
    assert not ahead._worker.is_alive()
    never_iterated = Prefetcher(iter(range(10)), depth=1)
    never_iterated.close()
    assert not never_iterated._worker.is_alive()
