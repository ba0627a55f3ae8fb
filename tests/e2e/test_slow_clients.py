"""Slow and too many clients against a real `phydev server`, with real sockets: 300 clients
that never finish their headers or their declared body used to hold every fd forever and
lock everyone out."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

from tests.conftest import PhydevServer
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_query_cost import NO_COST_LIMIT, Fanout, attacks, cpu_seconds, raw_query


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


SLOW_KINDS = 4
# What each kind of slow client is told (kind 0 sent nothing: its headers are late too).
TOO_SLOW = {0: b"headers", 1: b"headers", 2: b"body", 3: b"headers"}


def slow_client(port: int, kind: int) -> socket.socket:
    """A client that connected and then stalls: sending nothing, half its headers, its
    headers and a part of the body it declared, or (kind 3) a whole first request on a
    keep-alive connection and then half the headers of a second."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    if kind == 1:
        sock.sendall(b"GET /query HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    elif kind == 2:
        sock.sendall(b"POST /query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 1000\r\n\r\n{\"query\": \"{ maps")  # fmt: skip
    elif kind == 3:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while not answer.endswith(b"ok\n"):
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        sock.sendall(b"GET /query HTTP/1.1\r\nHost: local")
    return sock


def answer(sock: socket.socket) -> bytes:
    """All the server sent until it closed (after kind 3's first answer)."""
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except OSError:
        pass
    return data


def first_line(sock: socket.socket) -> bytes:
    """The status line the server sent before closing (b"" if it closed without one)."""
    return answer(sock).split(b"\r\n", 1)[0]


def test_slow_clients_cannot_lock_out_others(own_maps: OwnMaps) -> None:
    server = PhydevServer("--header-timeout", "2", "--body-timeout", "2",
                          "--max-connections", "200", bpf_dir=own_maps.bpf_dir)  # fmt: skip
    try:
        server.wait_ready()
        pid = server.proc.pid
        fds_before, cpu_before = open_fds(pid), cpu_seconds(pid)
        slow = [slow_client(server.port, i % SLOW_KINDS) for i in range(300)]
        # A normal client is answered at once: the oldest stalled connections make room.
        started = time.monotonic()
        with urllib.request.urlopen(server.url + "/query?query=%7Bmaps%7Bid%7D%7D",
                                    timeout=10) as resp:  # fmt: skip
            assert resp.status == 200
        took = time.monotonic() - started
        assert took < 2, f"a normal client waited {took:.1f} s"
        # Every stalled client is told it was too slow and disconnected, by the timeouts.
        answers = [answer(sock) for sock in slow]
        for sock in slow:
            sock.close()
        late = [(i, a[:60]) for i, a in enumerate(answers) if not a.startswith(b"HTTP/1.1 408")]
        assert not late, late  # (client, what it got) for any not told 408
        for i, got in enumerate(answers):  # and why: the part of the request that was late
            assert got.endswith(b"the request's %s came too slowly\n" % TOO_SLOW[i % SLOW_KINDS])
        assert time.monotonic() - started < 8
        # The server recovers by itself: its fds are released, and it did not spin meanwhile.
        deadline = time.monotonic() + 5
        while open_fds(pid) > fds_before + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert open_fds(pid) <= fds_before + 2
        assert cpu_seconds(pid) - cpu_before < 3
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
            assert resp.status == 200
    finally:
        _, output = server.stop()
    assert "Traceback" not in output


def test_when_every_connection_is_busy_a_new_one_gets_503(fanout: Fanout) -> None:
    """Two connections each waiting for a long query, with room for two: a third is refused
    at once with 503, and once the queries end (their deadline) the server serves again."""
    server = PhydevServer("--max-connections", "2", "--max-query-cost", NO_COST_LIMIT,
                          "--query-timeout", "3", bpf_dir=fanout.bpf_dir)  # fmt: skip
    try:
        server.wait_ready()
        busy = [raw_query(server.port, attacks(fanout.big_id)["nesting"]) for _ in range(2)]
        time.sleep(0.5)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as third:
            third.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert first_line(third) == b"HTTP/1.1 503 Service Unavailable"
        assert time.monotonic() - started < 1
        for sock in busy:
            assert first_line(sock) == b"HTTP/1.1 400 Bad Request"  # the deadline
            sock.close()
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
            assert resp.status == 200
    finally:
        _, output = server.stop()
    assert "Traceback" not in output
