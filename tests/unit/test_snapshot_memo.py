"""Snapshot.memo: answers shared within a snapshot carry nothing of the request that computed
them. A caller whose computation fails (its client went away, its deadline passed) keeps its
error to itself; the next caller computes with its own function and gets its own answer."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from devagent.model.snapshot import Snapshot, Sources


def empty_snapshot() -> Snapshot:
    return Snapshot(Sources(
        program_ids=list, programs=lambda ids: ({}, {}), map_ids=list,
        maps=lambda ids: ({}, {}), links=lambda: ({}, {}), pins=lambda: None,  # type: ignore[arg-type,return-value]
    ))  # fmt: skip


class Aborted(Exception):
    pass


def test_a_failed_computation_is_neither_kept_nor_reused() -> None:
    snap = empty_snapshot()

    def first() -> str:
        raise Aborted("the first client went away")

    with pytest.raises(Aborted):
        snap.memo("answer", first)
    assert snap.memo("answer", lambda: "second's answer") == "second's answer"
    assert snap.memo("answer", lambda: "third's") == "second's answer"  # shared from then on


def test_waiters_compute_with_their_own_function_when_the_first_fails() -> None:
    """Eight requests wait on one computation that then fails: each of them gets an answer
    computed by its own function (one of them computes, the others share it), none gets the
    first one's error."""
    snap = empty_snapshot()
    started, release = threading.Event(), threading.Event()
    results: list[object] = []

    def doomed() -> str:
        started.set()
        release.wait(5)
        raise Aborted("deadline of the first request")

    def bystander(n: int) -> None:
        try:
            results.append(snap.memo("answer", lambda: f"computed by {n}"))
        except Aborted as exc:
            results.append(exc)

    def first_request() -> None:
        with pytest.raises(Aborted):
            snap.memo("answer", doomed)

    first = threading.Thread(target=first_request)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=bystander, args=(n,)) for n in range(8)]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert len(results) == 8 and not any(isinstance(r, Exception) for r in results), results
    assert len(set(results)) == 1 and str(results[0]).startswith("computed by ")


def test_a_failed_computation_leaves_no_reference_to_its_request() -> None:
    """The failing function's closure (a request's context, which refers to the snapshot)
    must not stay in the snapshot: that was a cycle only the collector could free."""

    class Context:
        pass

    snap = empty_snapshot()
    ctx = Context()
    ctx.snapshot = snap  # type: ignore[attr-defined]
    gone = weakref.ref(ctx)

    def compute(c: Context = ctx) -> None:
        raise Aborted(str(c))

    with pytest.raises(Aborted):
        snap.memo("answer", compute)
    del ctx, compute
    gc.disable()
    try:
        assert gone() is None
    finally:
        gc.enable()
