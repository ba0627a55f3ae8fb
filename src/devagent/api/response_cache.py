"""Encoded answers to read-only GraphQL operations, kept for as long as their snapshot lives.

A query's answer depends only on its document (in graphql-core's printed form: spacing and
comments do not count), variables and operation name, and on the snapshot it reads (entry
pages are read at most as long ago as the snapshot was taken). So while the
Inventory hands out the same snapshot (at most `cache_max_age`, 1 s), the same operation
gets the same bytes: the explorer's pages polled from several browser tabs, or many
dashboards, cost one execution per second instead of one each. graphql-core spends ~2 µs
per resolved field, so a Navigation over 2000 objects costs ~35 ms to execute and ~0.1 ms to
serve from here.

Mutations never go in, and clear everything when they run: an edit must show at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import orjson

from ..model.snapshot import Snapshot

CacheKey = tuple[str, bytes, str | None]


def cache_key(printed: str, data: dict[str, Any]) -> CacheKey | None:
    """The key of a request's operation, from its document as graphql-core prints it
    (print_ast); None when its variables cannot be keyed."""
    try:
        variables = orjson.dumps(data.get("variables") or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    name = data.get("operationName")
    return printed, variables, name if isinstance(name, str) else None


class ResponseCache:
    """Bodies per key for the current snapshot; bounded in count and bytes (oldest out).

    `lookup` hands out the cache's generation with its answer; `store` refuses a body whose
    generation is not the current one, so a query that began before a mutation cannot put
    back what the mutation changed.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._bodies: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._bytes = 0
        self._generation = 0
        self.hits = 0

    def lookup(self, snapshot: Snapshot, key: CacheKey) -> tuple[bytes | None, int]:
        """(the cached body or None, the generation to pass to `store`)."""
        with self._lock:
            body = self._bodies.get(key) if snapshot is self._snapshot else None
            if body is not None:
                self._bodies.move_to_end(key)
                self.hits += 1
            return body, self._generation

    def store(self, snapshot: Snapshot, key: CacheKey, body: bytes, generation: int) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge page must not push out everything else
        with self._lock:
            if generation != self._generation:
                return  # a mutation ran meanwhile
            if snapshot is not self._snapshot:
                if self._snapshot is not None and snapshot.taken_at < self._snapshot.taken_at:
                    return  # an older snapshot finishing late: keep the newer one's answers
                self._clear_locked()
                self._snapshot = snapshot
            old = self._bodies.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._bodies[key] = body
            self._bytes += len(body)
            while len(self._bodies) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        """Forget everything and start a new generation (a mutation is about to run)."""
        with self._lock:
            self._clear_locked()
            self._snapshot = None
            self._generation += 1

    def _clear_locked(self) -> None:
        self._bodies.clear()
        self._bytes = 0
