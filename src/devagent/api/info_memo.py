"""Completed leaf values of one object builder, kept while the object's kernel info is unchanged.

What it buys: the budget's Navigation line (docs/PERFORMANCE.md: a poll on a fresh snapshot
at 1000 programs + 1000 maps, p50 <= 15 ms). Every poll meets a new snapshot, yet most
objects' infos are the very same objects as in the last one (the Inventory keeps map infos
and unchanged program infos across snapshots), so their leaves (name, type, tag, sizes,
...) come out the same: reading and completing them again was ~3 ms of that poll.

Why it is safe (the concerns that removed an earlier, wider memo):
- only leaves read from the kernel infos alone (api.nodes.InfoField) are kept, never a
  resolver that reads the snapshot, the request or the host (pins, owners, agentOwn, ...);
- the key is the identity of the info objects, held by the memo, so an id is never reused
  for another object while its entry lives, and a changed info is a new object: a miss;
- each request computes what it misses itself; a value whose completion raises is never
  stored, so no request sees another's failure;
- two generations, switched when a request brings a newer snapshot: a memo holds at most
  the objects of the last two snapshots its plan served, and a MemoPool keeps only the memos
  of the few plans that served the latest snapshots (the polled ones): at 5000 programs +
  5000 maps that is ~10 000 small tuples per memo.

The plain way is the fallback: `InfoMemo.get` answering None always gives the same
answers (tests/unit/test_info_memo.py compares both).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

Infos = tuple[Any, ...]


class InfoMemo:
    """(the info objects of one object) -> the tuple of its memoised leaves' values."""

    __slots__ = ("_current", "_pool", "_previous", "_snapshot")

    def __init__(self, pool: MemoPool | None = None) -> None:
        self._pool = pool
        self._snapshot: object = None
        self._current: dict[tuple[int, ...], tuple[Infos, tuple[Any, ...]]] = {}
        self._previous: dict[tuple[int, ...], tuple[Infos, tuple[Any, ...]]] = {}

    def turn(self, snapshot: object) -> None:
        """A request on `snapshot`: a newer one than the last makes the current generation the
        previous one (an older one, still being answered elsewhere, only misses more)."""
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._previous, self._current = self._current, {}
            if self._pool is not None:
                self._pool.used(self)

    def clear(self) -> None:
        self._snapshot = None
        self._previous, self._current = {}, {}

    def get(self, infos: Infos) -> tuple[Any, ...] | None:
        key = tuple(map(id, infos))
        found = self._current.get(key)
        if found is None:
            found = self._previous.get(key)
            if found is None:
                return None
            self._current[key] = found
        kept, values = found
        for a, b in zip(kept, infos, strict=True):
            if a is not b:
                return None
        return values

    def put(self, infos: Infos, values: tuple[Any, ...]) -> None:
        self._current[tuple(map(id, infos))] = (infos, values)


class MemoPool:
    """The memos of the `size` plans that most recently met a new snapshot; older ones are
    emptied (they fill again if their plan is polled again)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._active: OrderedDict[int, InfoMemo] = OrderedDict()
        self._lock = threading.Lock()

    def memo(self) -> InfoMemo:
        return InfoMemo(self)

    def used(self, memo: InfoMemo) -> None:
        with self._lock:
            self._active[id(memo)] = memo
            self._active.move_to_end(id(memo))
            while len(self._active) > self.size:
                _, old = self._active.popitem(last=False)
                old.clear()
