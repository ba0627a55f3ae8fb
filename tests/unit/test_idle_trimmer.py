"""IdleTrimmer: memory is given back once, after the server has been quiet, never while it
is busy and never with a thread left running when idle."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from devagent.runtime import memory
from devagent.runtime.memory import IdleTrimmer


def test_trims_once_after_a_quiet_period(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: calls.append(time.monotonic()))
    trimmer = IdleTrimmer(quiet=0.2)
    start = time.monotonic()
    for _ in range(5):  # busy for ~0.4 s: no trim meanwhile
        trimmer.touch()
        time.sleep(0.08)
    assert calls == []
    deadline = time.monotonic() + 3
    while not calls and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(calls) == 1 and trimmer.trims == 1
    assert calls[0] - start >= 0.4 + 0.2 - 0.05  # after the last touch plus the quiet time
    time.sleep(0.4)
    assert len(calls) == 1  # nothing more while idle
    assert not trimmer.armed  # and no timer of its own is waiting


def test_tune_allocator_runs_here() -> None:
    """glibc's mallopt is found and accepts both parameters (on other C libraries the call
    is skipped): the server calls this at start."""
    assert getattr(memory.libc, "mallopt", None) is not None
    memory.tune_allocator()
    assert memory.libc.mallopt(memory._M_MMAP_THRESHOLD, memory._BIG) == 1


# A page that polls less often than this (the fleet page's hour charts, each minute) may
# see a trim between two polls: one full collection a minute costs nothing a user notices.
LIVE_POLL_MS = 10_000


def test_an_open_ui_tab_never_waits_for_a_trim() -> None:
    """Every live page of the web UI polls every few seconds; the default quiet time must
    outlast each such interval, or a trim (a full collection, pages given back) runs between
    every two polls."""
    pages = Path(memory.__file__).parents[1] / "web" / "static" / "ui" / "pages"
    poll = re.compile(r"useQuery\([^;]*?,\s*(\d+)\)")  # useQuery(QUERY, vars, deps, ms)
    intervals = [int(ms) for page in pages.glob("*.js") for ms in poll.findall(page.read_text())]
    live = [ms for ms in intervals if ms < LIVE_POLL_MS]
    assert live and IdleTrimmer().quiet > max(live) / 1000 + 0.5
