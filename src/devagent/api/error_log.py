"""What the log says about failed GraphQL requests: short lines for client mistakes, tracebacks
for our own bugs, both rate-limited.

Ariadne logged every error with `logger.error(error, exc_info=error)`; a GraphQLError's text
carries the source line it points into, so a 35 KB one-line query with a thousand mistakes
wrote 188 MB of log, and an unknown id or a syntax error wrote a traceback. Here a request's
client mistakes (syntax, validation, unknown ids, bad paging or formats, refused limits) are
one line of at most MESSAGE_CHARS characters; an exception nobody expected (a bug of ours) is
logged with its traceback. Past `per_minute` lines of either kind, lines are counted and the
count is logged when the minute is over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from graphql import GraphQLError

from ..bpf.errors import BPFError
from ..bpf.jited import JitUnavailable
from ..model.codec import CodecError
from .entries import EntriesError
from .rate_fields import BadArgument

LOGGER = "devagent.graphql"
MESSAGE_CHARS = 200
# Errors the client caused, or the kernel's answer about an object: data, not our fault.
# (JitUnavailable: capstone is not installed; BadArgument: a rate field's argument.)
EXPECTED = (BPFError, EntriesError, CodecError, GraphQLError, JitUnavailable, BadArgument)


def short(text: str, limit: int = MESSAGE_CHARS) -> str:
    """One line of at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _Window:
    """At most `per_minute` events per minute; counts what it turned away."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.started = clock()
        self.used = 0
        self.dropped = 0

    def admit(self) -> tuple[bool, int]:
        """(whether to log now, how many were dropped in the minute that just ended)."""
        now = self.clock()
        dropped = 0
        if now - self.started >= 60.0:
            dropped, self.dropped = self.dropped, 0
            self.started, self.used = now, 0
        if self.used < self.per_minute:
            self.used += 1
            return True, dropped
        self.dropped += 1
        return False, dropped


class ErrorLog:
    """Logs the errors of GraphQL requests as the module docstring says. Thread-safe."""

    def __init__(
        self,
        logger: logging.Logger | None = None,
        per_minute: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger or logging.getLogger(LOGGER)
        self._lock = threading.Lock()
        self._client = _Window(per_minute, clock)
        self._bugs = _Window(per_minute, clock)

    def client(self, message: str, more: int = 0) -> None:
        """One client mistake (and `more` others of the same request) in one short line."""
        with self._lock:
            ok, dropped = self._client.admit()
        if dropped:
            self.logger.warning("client errors: %d more in the last minute not logged", dropped)
        if ok:
            extra = f" (+{more} more)" if more else ""
            self.logger.warning("client error: %s%s", short(message), extra)

    def bug(self, error: BaseException, where: str) -> None:
        """An exception nobody expected: logged with its traceback."""
        with self._lock:
            ok, dropped = self._bugs.admit()
        if dropped:
            self.logger.error("internal errors: %d more in the last minute not logged", dropped)
        if ok:
            self.logger.error(
                "internal error in %s: %s", where, short(str(error)),
                exc_info=(type(error), error, error.__traceback__),
            )  # fmt: skip

    def graphql(self, errors: Sequence[GraphQLError]) -> None:
        """The errors of one executed request: bugs each with a traceback, client mistakes as
        one line for all."""
        mistakes = []
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, EXPECTED):
                mistakes.append(error.message)
            else:
                self.bug(original, ".".join(map(str, error.path or ())) or "execution")
        if mistakes:
            self.client(mistakes[0], len(mistakes) - 1)
