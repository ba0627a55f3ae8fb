"""What one GraphQL request may still spend while it runs: time and answer bytes.

graphql-core executes synchronously in a worker thread that nothing can interrupt from
outside, so the request carries a RequestBudget that its resolvers check (every resolver that
reads the snapshot goes through api.context.request_context, which checks it). It ends the
execution when the deadline passes, when the client went away, or when the server is
stopping, by raising QueryAborted. That is a BaseException on purpose: graphql-core turns any
Exception of a resolver into a field error and goes on with the sibling fields, while this
must stop the whole operation at once and free what it built.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class QueryAborted(BaseException):
    """Raised inside execution to stop it; `status` and the message go to the client."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RequestBudget:
    """The deadline, the cancellation and the answer-size allowance of one request.

    `cancel` is called from the event loop (or a signal handler) while the worker thread
    calls `check`: it only sets attributes, which is safe across threads here.
    """

    def __init__(
        self,
        timeout: float,
        max_answer_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.deadline = clock() + timeout
        self.bytes_left = max_answer_bytes
        self.max_answer_bytes = max_answer_bytes
        self._clock = clock
        self._abort: tuple[str, int] | None = None

    def cancel(self, reason: str, status: int) -> None:
        """Stop the request at its next check (the first reason given wins)."""
        if self._abort is None:
            self._abort = (reason, status)

    @property
    def cancelled(self) -> bool:
        return self._abort is not None

    def check(self) -> None:
        """Raise QueryAborted if the request must stop now (a new one each time: a kept
        exception would keep the frames, and all they built, of where it was raised)."""
        if self._abort is None and self._clock() > self.deadline:
            self.cancel(
                f"the query took longer than {self.timeout:g} s, the limit "
                "(--query-timeout): ask for less",
                400,
            )
        if self._abort is not None:
            raise QueryAborted(*self._abort)

    def charge(self, nbytes: int) -> None:
        """Account for `nbytes` of answer about to be built; refuse past the allowance."""
        self.bytes_left -= nbytes
        if self.bytes_left < 0:
            self.cancel(
                f"the answer would be larger than {self.max_answer_bytes} bytes, the limit: "
                "ask for fewer entries (a lower `limit`) or fewer fields",
                400,
            )
        self.check()
