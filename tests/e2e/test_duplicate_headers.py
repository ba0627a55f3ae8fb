"""Repeated Host, Origin and Authorization header lines against a real `phydev server`, sent
as raw bytes (HTTP clients merge repeated headers). The checks read the last copy: `Host:
evil.example` before `Host: 127.0.0.1` was served, a foreign first Origin and a wrong first
token were ignored. RFC 9112 (3.2) makes two Host lines a 400; the agent answers 400 to two
of any of the three, naming the header, and goes on serving."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import PhydevServer
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_graphql_safety import _wait as wait_for_page

TOKEN = "dup-headers-token"
ALLOWED_ORIGIN = "https://explorer.example"
BODY = json.dumps({"query": "{ __typename }"}).encode()


def raw_request(
    port: int, headers: list[tuple[str, str]], method: str = "POST", path: str = "/query"
) -> tuple[int, bytes]:
    """(status, body) of one request whose header lines are exactly `headers` (plus the
    body's framing), sent over a fresh connection the server is asked to close."""
    body = BODY if method == "POST" else b""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers),
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             "Connection: close"]  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), content


@pytest.fixture(scope="module")
def agent(own_maps: OwnMaps, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhydevServer]:
    """A token (from a file) and one allowed cross-origin page: every check has work to do."""
    token_file = tmp_path_factory.mktemp("token") / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    server = PhydevServer("--auth-token-file", str(token_file), "--cors-origin", ALLOWED_ORIGIN,
                          bpf_dir=own_maps.bpf_dir)  # fmt: skip
    wait_for_page(server)
    yield server
    server.stop()


def good(port: int) -> list[tuple[str, str]]:
    return [("Host", f"127.0.0.1:{port}"), ("Origin", ALLOWED_ORIGIN),
            ("Authorization", f"Bearer {TOKEN}")]  # fmt: skip


def assert_refused(status: int, body: bytes, header: str) -> None:
    assert status == 400, body
    message = json.loads(body)["errors"][0]["message"]
    assert f"more than one {header} header" in message, message


def test_single_headers_are_served(agent: PhydevServer) -> None:
    status, body = raw_request(agent.port, good(agent.port))
    assert status == 200 and json.loads(body)["data"] == {"__typename": "Query"}, body


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("Host", "evil.example", "127.0.0.1"), ("Host", "127.0.0.1", "127.0.0.1"),
     ("Origin", "https://evil.example", ALLOWED_ORIGIN),
     ("Origin", ALLOWED_ORIGIN, ALLOWED_ORIGIN),
     ("Authorization", "Bearer wrong", f"Bearer {TOKEN}"),
     ("Authorization", f"Bearer {TOKEN}", "Bearer wrong")],
)  # fmt: skip
def test_a_repeated_header_is_refused(
    agent: PhydevServer, header: str, first: str, last: str
) -> None:
    headers = [h for h in good(agent.port) if h[0] != header]
    status, body = raw_request(agent.port, [(header, first), *headers, (header, last)])
    assert_refused(status, body, header)
    status, body = raw_request(agent.port, good(agent.port))
    assert status == 200, body  # and the server goes on serving


def test_names_differing_in_case_are_the_same_header(agent: PhydevServer) -> None:
    port = agent.port
    for one, other in (("host", "HOST"), ("origin", "oRiGiN"), ("AUTHORIZATION", "authorization")):
        header = one.capitalize()
        headers = [h for h in good(port) if h[0] != header]
        value = dict(good(port))[header]
        assert_refused(*raw_request(port, [(one, value), *headers, (other, value)]), header)


def test_every_path_and_the_cors_preflight_refuse_repeats(agent: PhydevServer) -> None:
    """The CORS middleware answers preflights before the Guard sees them: the repeat check
    comes first, for every path."""
    port = agent.port
    twice = [("Host", "evil.example"), ("Host", f"127.0.0.1:{port}")]
    for path in ("/", "/healthz", "/metrics", "/ui/"):
        assert_refused(*raw_request(port, twice, "GET", path), "Host")
    preflight = [("Host", f"127.0.0.1:{port}"), ("Origin", ALLOWED_ORIGIN),
                 ("Origin", "https://evil.example"),
                 ("Access-Control-Request-Method", "POST")]  # fmt: skip
    assert_refused(*raw_request(port, preflight, "OPTIONS"), "Origin")
    status, _ = raw_request(port, [preflight[0], preflight[1], preflight[3]], "OPTIONS")
    assert status == 200


def test_other_headers_may_repeat(agent: PhydevServer) -> None:
    """Only the three that decide access are refused: repeated Accept or X-* lines are legal."""
    headers = [*good(agent.port), ("Accept", "application/json"), ("Accept", "*/*"),
               ("X-Trace", "1"), ("x-trace", "2")]  # fmt: skip
    assert raw_request(agent.port, headers)[0] == 200
