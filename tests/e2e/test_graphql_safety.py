"""What keeps an exposed agent safe: auth, origins, GET rules, limits; and that hostile input
gets an error while the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from devagent.web.app import create_app
from tests.conftest import PhydevServer, port_is_open
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_graphql_server import post

TOKEN = "s3cret-token"
SIMPLE = "{ maps { id name } }"


def request(
    server: PhydevServer, path: str, method: str = "GET", body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    req = urllib.request.Request(server.url + path, data=body, method=method,
                                 headers=headers or {})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def still_serving(server: PhydevServer) -> None:
    status, body = post(server, SIMPLE)
    assert status == 200 and body["data"]["maps"]


@pytest.fixture(scope="module")
def guarded(own_maps: OwnMaps) -> Iterator[PhydevServer]:
    server = PhydevServer("--auth-token", TOKEN, "--cors-origin", "https://explorer.example",
                          "--path-prefix", "/agent", bpf_dir=own_maps.bpf_dir)  # fmt: skip
    _wait(server)  # wait_ready() polls /metrics, which needs the token here
    yield server
    server.stop()


def _wait(server: PhydevServer) -> None:
    import time

    for _ in range(200):
        try:
            if request(server, "/")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(server.output())


def test_auth_token_protects_query_and_metrics(guarded: PhydevServer) -> None:
    body = json.dumps({"query": SIMPLE}).encode()
    json_ct = {"Content-Type": "application/json"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        status, resp_headers, _ = request(guarded, "/query", "POST", body, {**json_ct, **headers})
        assert status == 401 and resp_headers["www-authenticate"].startswith("Bearer")
        assert request(guarded, "/metrics", headers=headers)[0] == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, raw = request(guarded, "/query", "POST", body, {**json_ct, **auth})
    assert status == 200 and json.loads(raw)["data"]["maps"]
    status, _, raw = request(guarded, "/metrics", headers=auth)
    assert status == 200 and b"devagent_ebpf_map_count" in raw
    assert request(guarded, "/")[0] == 200  # the page itself holds no data


def test_cors_only_for_configured_origin(guarded: PhydevServer) -> None:
    preflight = {"Origin": "https://explorer.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,authorization"}  # fmt: skip
    status, headers, _ = request(guarded, "/query", "OPTIONS", headers=preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://explorer.example"
    evil = {**preflight, "Origin": "https://evil.example"}
    status, headers, _ = request(guarded, "/query", "OPTIONS", headers=evil)
    assert status in (400, 403) and "access-control-allow-origin" not in headers


def test_path_prefix(guarded: PhydevServer) -> None:
    status, _, page = request(guarded, "/agent/")
    assert status == 200 and b'"endpoint": "/agent/query"' in page  # GraphiQL's config
    body = json.dumps({"query": SIMPLE}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    status, _, raw = request(guarded, "/agent/query", "POST", body, headers)
    assert status == 200 and json.loads(raw)["data"]["maps"]


def test_foreign_origin_refused_without_cors(own_agent: PhydevServer) -> None:
    body = json.dumps({"query": SIMPLE}).encode()
    headers = {"Content-Type": "application/json", "Origin": "https://evil.example"}
    status, resp_headers, raw = request(own_agent, "/query", "POST", body, headers)
    assert status == 403 and b"--cors-origin" in raw
    assert "access-control-allow-origin" not in resp_headers
    same = {**headers, "Origin": own_agent.url}
    assert request(own_agent, "/query", "POST", body, same)[0] == 200


def test_get_runs_queries_but_never_mutations(own_agent: PhydevServer, own_maps: OwnMaps) -> None:
    query = urllib.parse.quote(SIMPLE)
    status, _, raw = request(own_agent, f"/query?query={query}")
    assert status == 200 and json.loads(raw)["data"]["maps"]
    mutation = f'mutation {{ pinMap(id: {own_maps.id("t_array")}, path: "via_get") {{ error }} }}'
    status, _, raw = request(own_agent, "/query?query=" + urllib.parse.quote(mutation))
    assert status == 405 and b"not allowed over GET" in raw


def test_post_needs_json_content_type(own_agent: PhydevServer) -> None:
    body = json.dumps({"query": SIMPLE}).encode()
    status, _, raw = request(own_agent, "/query", "POST", body, {"Content-Type": "text/plain"})
    assert status == 415 and b"application/json" in raw
    still_serving(own_agent)


def test_hostile_queries_get_errors_and_the_server_keeps_serving(own_agent: PhydevServer) -> None:
    deep = "{ programs { maps { programs { maps { programs { maps { programs { maps { programs {"
    deep += " maps { programs { maps { programs { id } } } } } } } } } } } } } }"
    status, body = post(own_agent, deep)
    assert (
        status == 400 and "nested 14 levels deep; the limit is 12" in body["errors"][0]["message"]
    )
    t_hash = json.loads(request(own_agent, "/query?query=" + urllib.parse.quote(
        '{ maps { id name } }'))[2])["data"]["maps"]  # fmt: skip
    map_id = next(m["id"] for m in t_hash if m["name"] == "t_hash")
    wide = "{ " + " ".join(f"a{i}: map(id: {map_id}) {{ ...E }}" for i in range(1200)) + " }"
    wide += " fragment E on Map { entries(limit: 64) { key value cpuValues } }"
    status, body = post(own_agent, wide)
    assert status == 400 and "the limit is 200000" in body["errors"][0]["message"]
    for garbage in (b"{not json", b"[]", b'{"query": 5}'):
        status, _, _ = request(own_agent, "/query", "POST", garbage,
                               {"Content-Type": "application/json"})  # fmt: skip
        assert status == 400
    status, body = post(own_agent, "{ maps { id ")
    assert status == 400 and "Syntax Error" in body["errors"][0]["message"]
    still_serving(own_agent)


def raw_exchange(server: PhydevServer, head: str, body_parts: list[bytes]) -> bytes:
    """Send a hand-made request over a socket, then read the whole answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_oversized_bodies_get_413_whatever_the_client_does(own_agent: PhydevServer) -> None:
    """The limit is 1 MiB. A client that sends its whole oversized body before reading (as
    urllib does) must still see the 413, not a reset; so must one that streams it chunked; a
    body declared far beyond reason is refused before it is read."""
    big = json.dumps({"query": SIMPLE, "variables": {"x": "y" * (2 << 20)}}).encode()
    for _ in range(3):
        status, _, raw = request(own_agent, "/query", "POST", big,
                                 {"Content-Type": "application/json"})  # fmt: skip
        assert status == 413 and b"larger than 1048576 bytes" in raw
    piece = b"y" * (256 << 10)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(6)] + [b"0\r\n\r\n"]
    head = ("POST /query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")  # fmt: skip
    answer = raw_exchange(own_agent, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413") and b"larger than 1048576 bytes" in answer
    head = ("POST /query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1 << 40}\r\nConnection: close\r\n\r\n")  # fmt: skip
    answer = raw_exchange(own_agent, head, [b"{"])
    assert answer.startswith(b"HTTP/1.1 413") and b"larger than 1048576 bytes" in answer
    still_serving(own_agent)


@pytest.mark.parametrize(
    ("args", "says"),
    [("limit: 10001", "limit 10001 is over the maximum of 10000"),
     ("limit: -1", "must not be negative"), ("offset: -5", "must not be negative")],
)  # fmt: skip
def test_entry_paging_limits(
    own_agent: PhydevServer, own_maps: OwnMaps, args: str, says: str
) -> None:
    query = f"{{ map(id: {own_maps.id('t_hash')}) {{ entries({args}) {{ key }} }} }}"
    status, body = post(own_agent, query)
    assert status == 200 and says in body["errors"][0]["message"]
    still_serving(own_agent)


def test_concurrent_queries_share_one_kernel_walk(own_maps: OwnMaps) -> None:
    """20 simultaneous requests, one snapshot: the inventory walks the kernel once."""
    inventory = Inventory(own_maps.bpf_dir, max_age=30.0)
    app = create_app(Settings(bpf_dir=own_maps.bpf_dir), inventory)

    async def burst() -> list[Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await asyncio.gather(
                *(client.post("/query", json={"query": SIMPLE}) for _ in range(20))
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 and r.json()["data"]["maps"] for r in responses)
    assert inventory.walks == 1
    names = {m["name"] for m in responses[0].json()["data"]["maps"]}
    assert {"t_hash", "t_pcpu", "t_array", "t_str"} <= names


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_cleanly(own_maps: OwnMaps, sig: signal.Signals) -> None:
    server = PhydevServer(bpf_dir=own_maps.bpf_dir)
    server.wait_ready()
    server.proc.send_signal(sig)
    assert server.proc.wait(10) == 0
    _, output = server.stop()
    assert "Traceback" not in output
    assert not port_is_open(server.port)
