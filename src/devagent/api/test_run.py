"""The work of Mutation.testRun: runs bounded by the request's deadline, a few at a time.

A test run holds a worker thread for as long as the kernel runs the program, and one
BPF_PROG_TEST_RUN cannot be stopped once started: a slow program with a big `repeat` ran for
hours past --query-timeout and kept the server from stopping. So the runs are made in slices
(bpf.replay_slices): between slices the query timeout, the client leaving and the server
stopping are honoured. Runs that cannot end within the query timeout are refused after a short
measure, with the time of one run and how many runs fit. And a few test runs at once are
allowed (a runtime.lanes.Lane), so that they cannot take every worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..bpf.errors import BPFError, NotFound, not_found
from ..bpf.replay import ReplayError
from ..bpf.replay_slices import (
    STOP_DEADLINE,
    SlicedRun,
    TooSlow,
    run_program_in_slices,
    seconds_text,
)
from .context import RequestContext

# Of the query timeout, what is kept for answering: runs end this much before the deadline.
ANSWER_RESERVE = 0.1
ANSWER_SHARE = 0.05


def _deadline(ctx: RequestContext) -> tuple[float, float]:
    """(deadline on time.monotonic, query timeout) for the runs: the request's, less a moment
    for the answer."""
    timeout = ctx.budget.timeout if ctx.budget is not None else ctx.settings.query_timeout
    end = ctx.budget.deadline if ctx.budget is not None else time.monotonic() + timeout
    return end - min(ANSWER_RESERVE, timeout * ANSWER_SHARE), timeout


def run_test(ctx: RequestContext, prog_id: int, data: bytes, repeat: int) -> dict[str, Any]:
    """The TestRunResult of running program `prog_id` `repeat` times on `data`. QueryAborted
    when the client left or the server is stopping (nobody waits for this answer)."""
    deadline, timeout = _deadline(ctx)
    budget = ctx.budget
    lane = ctx.test_runs
    turn = lane.turn(deadline - time.monotonic()) if lane is not None else _always()
    with turn as go:
        if not go:
            assert lane is not None  # noqa: S101 narrowing: _always() always goes
            return {"error": f"too many test runs at once: {lane.width} are running, the "
                             "limit; retry when one has ended", "runs": 0}  # fmt: skip
        try:
            run = run_program_in_slices(
                prog_id, data, repeat, deadline=deadline,
                should_stop=(lambda: budget.cancelled) if budget is not None else lambda: False,
            )  # fmt: skip
        except NotFound:
            return {"error": str(not_found("program", prog_id)), "runs": 0}
        except TooSlow as exc:
            return {"error": f"{exc} of the query timeout (--query-timeout {timeout:g} s): at "
                             f"most {exc.fits} runs fit; ask for fewer, or start the server "
                             "with a longer --query-timeout. The measure ran the program "
                             f"{exc.runs} time{'s' if exc.runs != 1 else ''}.",
                    "runs": exc.runs}  # fmt: skip
        except (ReplayError, BPFError) as exc:
            return {"error": str(exc), "runs": 0}
    if budget is not None and run.stopped is not None and run.stopped != STOP_DEADLINE:
        budget.check()  # the client left or the server is stopping: QueryAborted
    return _answer(run, timeout)


@contextmanager
def _always() -> Iterator[bool]:
    yield True


def _answer(run: SlicedRun, timeout: float) -> dict[str, Any]:
    out = {
        "retval": run.retval,
        "durationNs": run.duration_ns,
        "dataOut": None if run.data_out is None else run.data_out.hex(),
        "runs": run.runs,
        "error": None,
    }
    if run.stopped == STOP_DEADLINE:
        per_run = seconds_text(run.duration_ns / 1e9) if run.duration_ns else "?"
        out["error"] = (
            f"stopped after {run.runs} of {run.requested} runs: they took longer than measured "
            f"(now about {per_run} a run) and the query timeout (--query-timeout {timeout:g} s) "
            "ran out; the other fields are those of the runs made"
        )
    elif run.stopped is not None:
        out["error"] = f"stopped after {run.runs} of {run.requested} runs: {run.stopped}"
    return out
