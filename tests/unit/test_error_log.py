"""devagent.api.error_log and runtime.budget: what the log says about failed requests, and how a
request's deadline, cancellation and answer allowance stop it."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from devagent.api.error_log import ErrorLog
from devagent.bpf.errors import NotFound
from devagent.runtime.budget import QueryAborted, RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_log(caplog: pytest.LogCaptureFixture, per_minute: int = 3) -> tuple[ErrorLog, Clock]:
    caplog.set_level(logging.WARNING, logger="test.errors")
    clock = Clock()
    return ErrorLog(logging.getLogger("test.errors"), per_minute, clock), clock


def test_client_mistakes_are_one_short_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log, _ = make_log(caplog)
    source = "{ " + "x " * 20_000 + "}"
    errors = [GraphQLError(f"Cannot query field 'x{i}' on type 'Query'. {source}")
              for i in range(500)]  # fmt: skip
    errors.append(GraphQLError("map 7: not found", original_error=NotFound(2, "", "map 7")))
    log.graphql(errors)
    (record,) = caplog.records
    assert record.exc_info is None and len(record.getMessage()) < 260
    assert record.getMessage().endswith("... (+500 more)")


def test_our_bugs_are_logged_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log, _ = make_log(caplog)
    try:
        raise KeyError("oops")
    except KeyError as exc:
        bug = exc
    log.graphql([GraphQLError("'oops'", original_error=bug, path=["maps", 0, "name"])])
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "internal error in maps.0.name: 'oops'"
    assert "raise KeyError" in caplog.text  # the traceback


def test_lines_are_rate_limited_and_the_rest_counted(caplog: pytest.LogCaptureFixture) -> None:
    log, clock = make_log(caplog, per_minute=3)
    for i in range(10):
        log.client(f"mistake {i}")
    assert [r.getMessage() for r in caplog.records] == [
        f"client error: mistake {i}" for i in range(3)
    ]
    clock.now = 61.0
    log.client("mistake 10")
    assert [r.getMessage() for r in caplog.records[3:]] == [
        "client errors: 7 more in the last minute not logged",
        "client error: mistake 10",
    ]


def test_budget_deadline_cancel_and_answer_allowance() -> None:
    clock = Clock()
    budget = RequestBudget(timeout=2.0, max_answer_bytes=100, clock=clock)
    budget.check()
    budget.charge(60)
    with pytest.raises(QueryAborted, match="larger than 100 bytes") as aborted:
        budget.charge(60)
    assert aborted.value.status == 400
    late = RequestBudget(timeout=2.0, max_answer_bytes=100, clock=clock)
    clock.now = 2.5
    with pytest.raises(QueryAborted, match="took longer than 2 s"):
        late.check()
    gone = RequestBudget(timeout=60.0, max_answer_bytes=100, clock=clock)
    gone.cancel("the client went away", 499)
    gone.cancel("the server is shutting down", 503)  # the first reason stays
    with pytest.raises(QueryAborted, match="the client went away") as first:
        gone.check()
    with pytest.raises(QueryAborted) as second:
        gone.check()
    assert first.value is not second.value and first.value.status == 499
    assert not isinstance(first.value, Exception)  # graphql-core must not catch it
