"""What a web page, a rebinding attacker or a careless flag could do to a real `phydev server`:
unknown host names (DNS rebinding), HEAD running a body, a non-ASCII token, CORS origins."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator

import pytest

from tests.conftest import PhydevServer, free_port, run_phydev
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_graphql_safety import SIMPLE, request
from tests.e2e.test_graphql_safety import _wait as wait_for_page

JSON = {"Content-Type": "application/json"}
BODY = json.dumps({"query": SIMPLE}).encode()


@pytest.fixture(scope="module")
def named(own_maps: OwnMaps) -> Iterator[PhydevServer]:
    """Serving a reverse proxy's name and the explorer's origin, as an operator would."""
    flags = ["--allowed-host", "agent.example", "--allowed-host", ".corp.example",
             "--cors-origin", "https://explorer.example/"]  # fmt: skip
    server = PhydevServer(*flags, bpf_dir=own_maps.bpf_dir)
    server.wait_ready()
    yield server
    server.stop()


def test_rebinding_host_names_are_refused(own_agent: PhydevServer) -> None:
    """A page on evil.example re-resolved to 127.0.0.1 sends Host and Origin both evil.example:
    the origin check alone let it read everything."""
    port = own_agent.port
    rebinding = {**JSON, "Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    for path, method, body in (("/query", "POST", BODY), ("/metrics", "GET", None),
                               ("/", "GET", None)):  # fmt: skip
        status, _, raw = request(own_agent, path, method, body, rebinding)
        assert status == 403, raw
        message = json.loads(raw)["errors"][0]["message"]
        assert "host 'evil.example' is not served" in message and "--allowed-host" in message
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "10.1.2.3",
                 f"LOCALHOST.:{port}", f"ui.localhost:{port}", socket.gethostname()):  # fmt: skip
        status, _, raw = request(own_agent, "/query", "POST", BODY, {**JSON, "Host": host})
        assert status == 200 and json.loads(raw)["data"]["maps"], host


def test_allowed_hosts_and_cors_origin_hosts_are_served(named: PhydevServer) -> None:
    for host, status in (("agent.example", 200), ("explorer.example:443", 200),
                         ("x.corp.example", 200), ("corp.example.evil", 403),
                         ("other.example", 403), ("agent.example:bad", 403)):  # fmt: skip
        assert request(named, "/query", "POST", BODY, {**JSON, "Host": host})[0] == status, host


def test_cors_origin_is_normalised(named: PhydevServer) -> None:
    """`--cors-origin https://explorer.example/` (trailing slash) allows what browsers send,
    `Origin: https://explorer.example`."""
    preflight = {"Origin": "https://explorer.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    status, headers, _ = request(named, "/query", "OPTIONS", headers=preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://explorer.example"
    status, _, raw = request(named, "/query", "POST", BODY,
                             {**JSON, "Origin": "https://explorer.example"})  # fmt: skip
    assert status == 200 and json.loads(raw)["data"]["maps"]


@pytest.mark.parametrize(
    ("origin", "says"),
    [("explorer.example", "is not an origin: write http:// or https://"),
     ("https://explorer.example/ui", "without a path"), ("ftp://x", "is not an origin"),
     ("http://x:99999", "invalid port"),
     ("*", "'*' lets every web page call the agent: allowed only together with --auth-token")],
)  # fmt: skip
def test_bad_cors_origins_are_usage_errors(origin: str, says: str) -> None:
    result = run_phydev("server", "--listen", "127.0.0.1", "--cors-origin", origin,
                        check=False, env={"PORT": str(free_port())})  # fmt: skip
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "serving on" not in result.stdout


def test_any_origin_with_a_token(own_maps: OwnMaps) -> None:
    """`--cors-origin '*'` with a token: any page may call, but only with the token."""
    token = "t0ken"
    server = PhydevServer("--cors-origin", "*", "--auth-token", token, bpf_dir=own_maps.bpf_dir)
    try:
        wait_for_page(server)
        origin = {**JSON, "Origin": "https://anywhere.example"}
        assert request(server, "/query", "POST", BODY, origin)[0] == 401
        status, headers, _ = request(server, "/query", "POST", BODY,
                                     {**origin, "Authorization": f"Bearer {token}"})  # fmt: skip
        assert status == 200 and headers["access-control-allow-origin"] == "*"
    finally:
        server.stop()


def test_non_ascii_token_matches_utf8_clients(own_maps: OwnMaps) -> None:
    """The token was compared after a latin-1 decode of the header, so a non-ASCII token sent
    as UTF-8 (what curl and browsers send) could never match."""
    token = "pässwörd-ключ"
    server = PhydevServer("--auth-token", token, bpf_dir=own_maps.bpf_dir)
    try:
        wait_for_page(server)
        tries = ((token.encode("utf-8"), b"200"), (token.encode("latin-1", "replace"), b"401"))
        for sent, status in tries:
            head = (b"POST /query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    b"Authorization: Bearer " + sent + b"\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(BODY))  # fmt: skip
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(head + BODY)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    finally:
        server.stop()


def test_head_never_runs_a_mutation(own_maps: OwnMaps) -> None:
    """HEAD /query with a mutation body executed it (Starlette routes HEAD to GET handlers)."""
    server = PhydevServer("--allow-writes", bpf_dir=own_maps.bpf_dir)
    try:
        server.wait_ready()
        mutation = {"query": f'mutation {{ pinMap(id: {own_maps.id("t_hash")}, path: "by_head") '
                             "{ error } }"}  # fmt: skip
        for method in ("HEAD", "PUT", "DELETE", "PATCH"):
            status, headers, _ = request(server, "/query", method,
                                         json.dumps(mutation).encode(), JSON)  # fmt: skip
            assert status == 405, method
            assert not os.path.lexists(os.path.join(own_maps.bpf_dir, "by_head"))
            if method == "HEAD":
                assert headers.get("allow", headers.get("Allow")) == "GET, POST"
    finally:
        server.stop()
