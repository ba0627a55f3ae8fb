"""web.query_lane: admitted GET/POST /query skip Starlette's stack and answer exactly what
the Starlette app answers; everything else (refusals, CORS, other paths and methods) goes
through the Starlette app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from devagent.model.settings import Settings
from devagent.web.app import create_app
from devagent.web.query_lane import QueryLane

QUERY = {"query": "{ serverInfo { version allowWrites } }"}
BASE = "http://127.0.0.1:8080"


def both(**settings: Any) -> tuple[QueryLane, TestClient, TestClient]:
    """The lane, a client of the lane, and a client of the Starlette app behind it."""
    lane = create_app(Settings(**settings))
    return lane, TestClient(lane, base_url=BASE), TestClient(lane.app, base_url=BASE)


def same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.content) == (b.status_code, b.content)
    drop = {"date"}
    assert {k: v for k, v in a.headers.items() if k not in drop} == {
        k: v for k, v in b.headers.items() if k not in drop
    }


@pytest.mark.parametrize("prefix", ["/", "/agent/"])
def test_admitted_queries_take_the_lane_and_answer_as_starlette(prefix: str) -> None:
    lane, fast, plain = both(path_prefix=prefix)
    for path in {"/query", prefix + "query"}:
        before = lane.taken
        got = fast.post(path, json=QUERY)
        assert lane.taken == before + 1 and got.status_code == 200
        assert got.json()["data"]["serverInfo"]["allowWrites"] is False
        same(got, plain.post(path, json=QUERY))
        got = fast.get(path, params={"query": QUERY["query"]})
        assert lane.taken == before + 2
        same(got, plain.get(path, params={"query": QUERY["query"]}))
        # Errors the endpoint gives (not the router) come the same way through the lane.
        broken = {"content": b"{", "headers": {"Content-Type": "application/json"}}
        same(fast.post(path, **broken), plain.post(path, **broken))  # type: ignore[arg-type]
        invalid = {"query": "{ nope }"}
        same(fast.post(path, json=invalid), plain.post(path, json=invalid))
        assert lane.taken == before + 4


@pytest.mark.parametrize(
    ("settings", "headers", "status"),
    [({}, {"Host": "evil.example"}, 403),
     ({}, {"Origin": "https://evil.example"}, 403),
     ({"auth_token": "s3cret"}, {}, 401),
     ({"auth_token": "s3cret"}, {"Authorization": "Bearer wrong"}, 401)],
)  # fmt: skip
def test_refused_requests_go_through_starlette(
    settings: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    lane, fast, plain = both(**settings)
    got = fast.post("/query", json=QUERY, headers=headers)
    assert lane.taken == 0 and got.status_code == status
    same(got, plain.post("/query", json=QUERY, headers=headers))


def test_a_token_that_matches_takes_the_lane() -> None:
    lane, fast, _ = both(auth_token="s3cret")
    got = fast.post("/query", json=QUERY, headers={"Authorization": "Bearer s3cret"})
    assert got.status_code == 200 and lane.taken == 1


def test_cors_requests_go_through_starlette_and_get_their_headers() -> None:
    origin = "https://explorer.example"
    lane, fast, _ = both(cors_origins=(origin,))
    got = fast.post("/query", json=QUERY, headers={"Origin": origin})
    assert got.status_code == 200 and got.headers["access-control-allow-origin"] == origin
    assert lane.taken == 0
    assert fast.post("/query", json=QUERY).status_code == 200 and lane.taken == 1  # no Origin


def test_other_paths_and_methods_go_through_starlette() -> None:
    lane, fast, plain = both()
    for method, path in [("GET", "/healthz"), ("HEAD", "/query"), ("PUT", "/query"),
                         ("POST", "/query/"), ("POST", "/queryx")]:  # fmt: skip
        same(fast.request(method, path, follow_redirects=False),
             plain.request(method, path, follow_redirects=False))  # fmt: skip
    assert lane.taken == 0
