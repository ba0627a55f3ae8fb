"""Answers of unchanged objects, kept across snapshots by the compiled plan (api.plan_compiler).

The explorer polls Navigation every 2 s, so every poll meets a fresh snapshot and builds
all 2000 objects' dicts again (~6 us each), although a map's info never changes and an idle
program's neither: the object builder keeps each object's answer, serialised, under its
kernel info (the very object the snapshot holds, kept across snapshots by model.inventory)
and the values of its other fields, and answers an unchanged object with the bytes it made
before.

One bound for every memo of the process: past `LIMIT` entries (a few hundred bytes each)
all are cleared, so any number of plans and objects keep at most a few MB.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

LIMIT = 8192


class Memo(dict[Any, Any]):
    """One object builder's memo: key -> (info, serialised answer). Weakly registered, so a
    memo goes with its plan."""


_lock = threading.Lock()
_memos: weakref.WeakValueDictionary[int, Memo] = weakref.WeakValueDictionary()
_entries = 0


def new_memo() -> Memo:
    memo = Memo()
    with _lock:
        _memos[id(memo)] = memo
    return memo


def remember(memo: Memo, key: Any, entry: Any) -> None:
    """memo[key] = entry, clearing every memo first when the process holds LIMIT entries
    (dict operations are atomic; the count may drift by a few under threads, harmlessly)."""
    global _entries
    if _entries >= LIMIT:
        with _lock:
            for each in list(_memos.values()):
                each.clear()
            _entries = 0
    memo[key] = entry
    _entries += 1
