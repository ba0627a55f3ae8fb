"""A fake agent for `phydev top --agent`: a raw-socket HTTP server on 127.0.0.1, in threads of
the test process, that answers every request the way the test says: a valid answer, a wrong
shape, a flood of bytes, or a trickle of one byte every few seconds.

Raw sockets rather than http.server, because the hostile answers are the point: a status line
sent byte by byte, a body longer than anyone should read, a body that never ends.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

# A handler writes one whole answer to the client's socket; `stop` is set when the server
# closes (a trickle or a flood ends then, or when the client goes away).
Handler = Callable[[socket.socket, threading.Event], None]

HOST = {
    "hostname": "fake-agent",
    "kernelRelease": "6.1.0-fake",
    "cpuCount": 2,
    "statsMode": "SYSCTL",
    "statsDescription": "kernel.bpf_stats_enabled=1",
    "programCount": 1,
    "mapCount": 1,
    "linkCount": 0,
    "cpuPercent": 0.5,
    "hostCpuPercent": 0.25,
    "eventsPerSecond": 100.0,
}
PROGRAM = {
    "id": 7,
    "fullName": "fake_prog",
    "type": "XDP",
    "attachPoint": "xdp lo",
    "owners": [{"pid": 42, "comm": "loader"}],
    "eventsPerSecond": 100.0,
    "avgRunTimeNs": 50.0,
    "cpuPercent": 0.5,
    "recursionMissesPerSecond": 0.0,
}
DETAIL = {
    "id": 7,
    "fullName": "fake_prog",
    "type": "XDP",
    "owners": [{"pid": 42, "comm": "loader"}],
    "attachPoint": "xdp lo",
    "maps": [
        {"id": 3, "name": "flows", "type": "Hash", "maxEntries": 16, "usedEntries": 2,
         "memlockBytes": 4096.0},
    ],
}  # fmt: skip
STATS = [{"id": 7, "points": [{"eventsPerSecond": 100.0, "cpuPercent": 0.5}]}]


def valid_answer(detail: bool = False) -> dict[str, Any]:
    """What a real agent answers top's query (with the selected program's detail)."""
    data: dict[str, Any] = {"host": dict(HOST), "programs": [dict(PROGRAM)]}
    if detail:
        data["detail"] = json.loads(json.dumps(DETAIL))
        data["stats"] = json.loads(json.dumps(STATS))
    return {"data": data}


def _head(
    status: str = "200 OK", length: int | None = None, ctype: str = "application/json"
) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {ctype}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def raw(body: bytes, status: str = "200 OK", ctype: str = "application/json") -> Handler:
    """A whole answer with a Content-Length."""

    def handle(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(_head(status, len(body), ctype) + body)

    return handle


def answer(value: Any) -> Handler:
    """Any JSON value as the answer's body."""
    return raw(json.dumps(value).encode())


class Flood:
    """`total` bytes of one endless JSON string, with the length declared up front or not
    (then the body ends when the connection closes); `sent` counts what got out."""

    def __init__(self, total: int, declare: bool) -> None:
        self.total = total
        self.declare = declare
        self.sent = 0

    def __call__(self, conn: socket.socket, stop: threading.Event) -> None:
        block = b"x" * (1 << 20)
        start = b'{"data": {"host": "'
        conn.sendall(_head(length=self.total if self.declare else None) + start)
        self.sent = len(start)
        while self.sent < self.total and not stop.is_set():
            chunk = block[: self.total - self.sent]
            conn.sendall(chunk)  # raises once the client has gone: the thread ends
            self.sent += len(chunk)


def trickle(body: bytes, every: float, headers_too: bool = False) -> Handler:
    """One byte every `every` seconds: of the body only, or of the whole answer."""

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        head = _head(length=len(body))
        slow = head + body if headers_too else body
        if not headers_too:
            conn.sendall(head)
        for i in range(len(slow)):
            conn.sendall(slow[i : i + 1])
            if stop.wait(every):
                return

    return handle


class HostileAgent:
    """The server. `handler` may be swapped while it runs; `requests` counts the requests
    it has read (a full-screen top that keeps polling keeps it growing)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                if not _read_request(conn):
                    return
                self.requests += 1
                self.handler(conn, self.stop)
            except OSError:
                pass  # the client went away (as it should from a flood or a trickle)

    def wait_requests(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.requests < n:
            assert time.monotonic() < deadline, f"only {self.requests} requests, not {n}"
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self._thread.join(5)


def _read_request(conn: socket.socket) -> bool:
    """Read one request (headers and a Content-Length body); False if the client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True
