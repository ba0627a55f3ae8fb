"""model.prometheus_api against a Prometheus that answers badly (the fake server of
tests/hostile_agent): every request of the fleet views ends within its timeout and reads a
bounded answer, whatever is on the other side, and each failure names what went wrong."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from devagent.model.prometheus_api import PrometheusAPI, PrometheusError
from tests.hostile_agent import Flood, HostileAgent, answer, raw, trickle

VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"node": "a"}, "value": [1.0, "3"]}]}}  # fmt: skip


@pytest.fixture
def prometheus() -> Iterator[HostileAgent]:
    server = HostileAgent(answer(VECTOR))
    yield server
    server.close()


def test_a_good_answer(prometheus: HostileAgent) -> None:
    assert PrometheusAPI(prometheus.url).query("up") == [({"node": "a"}, 3.0)]


def test_a_trickle_ends_at_the_timeout(prometheus: HostileAgent) -> None:
    """One byte a second of a small body (a socket timeout of 1 s would never fire)."""
    prometheus.handler = trickle(b'{"status": "success", "data": {}}' * 4, every=0.5)
    api = PrometheusAPI(prometheus.url, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(PrometheusError, match="gave no complete answer within 1 s"):
        api.query("up")
    assert time.monotonic() - started < 3.0


def test_a_flood_is_refused(prometheus: HostileAgent) -> None:
    prometheus.handler = Flood(80 << 20, declare=False)
    with pytest.raises(PrometheusError, match="answered more than 64 MiB"):
        PrometheusAPI(prometheus.url, timeout=30).query("up")


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        ("401 Unauthorized", b"", "refused access (HTTP 401): check --prometheus-token-file"),
        ("422 Unprocessable Entity", b'{"status": "error", "error": "parse error at char 3"}',
         "answered HTTP 422: parse error at char 3"),
        ("200 OK", b"<html>login</html>", "answered something not JSON"),
        ("200 OK", b'{"status": "error", "error": "bad"}', "refused the query: bad"),
    ],
)  # fmt: skip
def test_refusals_are_named(
    prometheus: HostileAgent, status: str, body: bytes, message: str
) -> None:
    prometheus.handler = raw(body, status)
    with pytest.raises(PrometheusError, match=re.escape(message)):
        PrometheusAPI(prometheus.url).query("up")


def test_a_redirect_is_not_followed_and_says_where(prometheus: HostileAgent) -> None:
    def moved(conn: socket.socket, _stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: https://prom.example/\r\n"
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")  # fmt: skip

    prometheus.handler = moved
    with pytest.raises(PrometheusError, match=re.escape("a redirect to https://prom.example/")):
        PrometheusAPI(prometheus.url).query("up")


def test_an_unreachable_prometheus() -> None:
    with pytest.raises(PrometheusError, match="is unreachable"):
        PrometheusAPI("http://127.0.0.1:9", timeout=2).query("up")
