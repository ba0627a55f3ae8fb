"""One HTTP request with the two bounds a socket timeout does not give: `phydev top
--agent` asks an agent with it, the fleet views (model.prometheus_api) ask Prometheus.

A socket timeout bounds each wait for the next bytes only: a server that sends one byte
every few seconds keeps a request going for ever, and `read()` keeps all it is sent (a
512 MiB answer took `top --agent` to 1 GiB; in the server, a request thread blocked for as
long as the other side trickles). Here a timer shuts the connection's socket
down at the deadline of the whole exchange (connect, TLS, status line, headers, body),
which wakes any read blocked on it; and the body is read in chunks and refused once it
passes `max_bytes` (a declared Content-Length past it is refused before anything is read).

urllib still does the rest: proxies from the environment, TLS, HTTPError for a 4xx/5xx.
Redirects are not followed: the agent's /query and Prometheus' API never redirect, and
urllib would follow one to another host or to ftp:.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

CHUNK = 1 << 16


class TooBig(Exception):
    """The answer is longer than the bound."""


class TooSlow(Exception):
    """The answer was not complete by the deadline."""


class _Deadline:
    """Shuts down every watched socket when the time is up, unless the exchange has finished
    first. A connection is watched from before it connects (its `sock` is the plain socket
    while TLS shakes hands) and its socket once connected: urllib drops `conn.sock` when
    the headers are in, and the response goes on reading from that socket."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._conns: list[http.client.HTTPConnection] = []
        self._socks: list[socket.socket] = []
        self.fired = False
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._conns.append(conn)

    def watch_socket(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.fired:  # connected just as the time ran out
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for sock in [*(c.sock for c in self._conns if c.sock is not None), *self._socks]:
                _shutdown(sock)

    def finish(self) -> bool:
        """Stop the timer; True if it had fired."""
        with self._lock:
            self._done = True
        self._timer.cancel()
        return self.fired


def _shutdown(sock: socket.socket) -> None:
    """Wake every read blocked on `sock` (it returns end of file). The plain socket's method:
    an SSLSocket's would try to unwrap TLS first."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched(http.client.HTTPConnection):
    deadline: _Deadline

    def connect(self) -> None:
        self.deadline.watch(self)
        super().connect()
        self.deadline.watch_socket(self.sock)


class _WatchedTLS(_Watched, http.client.HTTPSConnection):
    """connect() is _Watched's around HTTPSConnection's (TCP, then the TLS handshake)."""


def _watched(
    kind: type[_Watched], deadline: _Deadline
) -> Callable[..., http.client.HTTPConnection]:
    """The connection factory urllib's do_open calls: connections of `kind` under `deadline`."""

    def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn = kind(host, **kwargs)
        conn.deadline = deadline
        return conn

    return connection


class _Plain(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(_Watched, self.deadline), req)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """What urlopen uses (certificates checked); made once: loading the CAs takes ~0.1 s."""
    return ssl.create_default_context()


class _TLS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__(context=_tls_context())  # given: newer Pythons would make one each time
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(_WatchedTLS, self.deadline), req, context=_tls_context())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def fetch(
    url: str, body: bytes | None, headers: dict[str, str], *, seconds: float, max_bytes: int
) -> bytearray:
    """The body of the answer to a POST of `body` to `url` (a GET when `body` is None; http
    or https, checked by the caller). Raises TooSlow, TooBig, urllib.error.HTTPError /
    URLError, OSError or http.client.HTTPException."""
    deadline = _Deadline(seconds)
    tls = [_TLS(deadline)] if url.lower().startswith("https:") else []  # no CAs loaded else
    opener = urllib.request.build_opener(_Plain(deadline), *tls, _NoRedirect())
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 http(s) only
    data = bytearray()
    try:
        with opener.open(request, timeout=seconds) as resp:
            declared = resp.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooBig
            while chunk := resp.read(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise TooBig
            if declared.isdigit() and len(data) < int(declared):
                # read(n) takes an early end of the connection for the end of the body
                raise http.client.IncompleteRead(b"", int(declared) - len(data))
    except (OSError, http.client.HTTPException):
        if deadline.finish():
            raise TooSlow from None
        raise
    finally:
        fired = deadline.finish()
    if fired:  # a body that ends with the connection looks complete when cut at the deadline
        raise TooSlow
    return data
