"""Slow and too many clients: time limits for receiving a request, and a cap on connections.

uvicorn's HTTP protocol closes a connection that stays idle between requests
(`timeout_keep_alive`), but nothing while a request arrives: a client that sends its headers
a byte at a time, or declares a body it never sends, holds its connection (an fd, a task)
forever. 300 such clients took every fd and locked everyone out. Here, on top of uvicorn's
HttpToolsProtocol:

- the request line and headers must arrive within `header_timeout` seconds from their first
  byte (from the connection's start for the first request), the body within `body_timeout`
  seconds after the headers; past that the client gets 408 and is disconnected;
- at most `max_connections` are open at once. A new connection past that closes the oldest
  connection that is idle or still sending its request (those cost us nothing to drop and
  are what a slow-client attack is made of); when every connection is busy being answered,
  the new one gets 503 at once and is closed.

This subclasses uvicorn's protocol class (documented as pluggable through `Config(http=...)`)
and follows the request through httptools' parser callbacks; both are pinned by the tests
with real sockets. httptools (llhttp, in C) rather than uvicorn's pure-Python h11 protocol:
it takes ~0.2 ms less per request on the loop, 0.4 ms on an idle CPU (bench/NOTES.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..model.settings import Settings
from ..runtime.disconnect import ON_DISCONNECT

HEAD, BODY = "head", "body"


def _plain_response(status: str, text: str) -> bytes:
    body = text.encode() + b"\n"
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


TOO_MANY = _plain_response(
    "503 Service Unavailable", "too many connections are being answered: retry in a moment"
)
TOO_SLOW = {
    HEAD: _plain_response("408 Request Timeout", "the request's headers came too slowly"),
    BODY: _plain_response("408 Request Timeout", "the request's body came too slowly"),
}


class GuardedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with the receive timeouts and the connection cap described above.
    The limits are class attributes, set by `protocol_class(settings)`."""

    header_timeout = 10.0
    body_timeout = 30.0
    max_connections = 256

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase: str | None = None  # HEAD or BODY while a request arrives, else None
        self.since = 0.0  # when the phase (or, for an idle connection, the idleness) began
        self._timer: asyncio.TimerHandle | None = None
        # What the parser has seen of the request arriving now (HEAD, BODY, or None once
        # it is whole); the timer follows it after each read, not within one.
        self._receiving: str | None = HEAD
        # Called when the connection is lost: the app registers one per running request
        # (runtime.disconnect), through the scope, to stop work nobody will receive.
        self._on_disconnect: set[Callable[[], None]] = set()

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections and not self._evict_one():
            self.transport = transport
            transport.write(TOO_MANY)
            transport.close()
            return
        super().connection_made(transport)
        self._enter(HEAD)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)
        for hook in list(self._on_disconnect):
            hook()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.since = self.loop.time()
        self._follow_request()

    # ------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = HEAD  # the first byte of a request
        self.scope[ON_DISCONNECT] = self._on_disconnect  # type: ignore[literal-required]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._receiving = BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = None

    # ------------------------------------------------------------ phases and timers

    def _follow_request(self) -> None:
        """Arm or stop the timer as the request moves on (the parser's view of the client)."""
        if self.transport.is_closing():
            self._enter(None)
            return
        self._enter(self._receiving)  # None: received whole, the app has it and its deadline

    def _enter(self, phase: str | None) -> None:
        if phase == self.phase and (phase is None or self._timer is not None):
            return  # a client sending slowly does not restart its clock
        self._cancel_timer()
        self.phase = phase
        self.since = self.loop.time()
        if phase is not None:
            delay = self.header_timeout if phase == HEAD else self.body_timeout
            self._timer = self.loop.call_later(delay, self._too_slow)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if self.phase is not None:
            self._drop(TOO_SLOW[self.phase])

    def _drop(self, answer: bytes | None) -> None:
        """Close this connection, first telling the client why when it is still sending."""
        if self.transport.is_closing():
            return
        cycle = self.cycle  # the last request's: an answer may be on its way for it
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if answer is not None and not answering:
            self.transport.write(answer)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app sees http.disconnect
            cycle.message_event.set()
        self.transport.close()

    @property
    def droppable(self) -> bool:
        """Idle between requests, or still sending one: nobody is working for it."""
        if self.phase is not None:
            return True
        return self.cycle is None or self.cycle.response_complete

    def _evict_one(self) -> bool:
        """Close the oldest droppable connection for a new one; False if there is none."""
        candidates = [
            c
            for c in self.connections
            if isinstance(c, GuardedProtocol) and c.droppable and not c.transport.is_closing()
        ]
        if not candidates:
            return False
        oldest = min(candidates, key=lambda c: c.since)
        oldest._drop(TOO_SLOW[oldest.phase] if oldest.phase else None)
        self.connections.discard(oldest)  # closing: it no longer counts against the cap
        return True


def protocol_class(settings: Settings) -> type[GuardedProtocol]:
    """The protocol class uvicorn should use for these settings."""
    return type(
        "Protocol",
        (GuardedProtocol,),
        {
            "header_timeout": settings.header_timeout,
            "body_timeout": settings.body_timeout,
            "max_connections": settings.max_connections,
        },
    )
