"""--public-url: the agent behind a reverse proxy that rewrites Host. The proxy's origin is the
agent's own (same-origin) whatever Host arrives, its name is served, and nothing else is
loosened; the pages' static files carry no data and are served whatever the Origin."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from devagent.model.settings import Settings
from devagent.web.app import create_app
from devagent.web.security import public_url_origin
from tests.conftest import run_phydev

PUBLIC = "https://ops.example:8443"
QUERY = {"query": "{ serverInfo { version } }"}


def client(**settings: object) -> TestClient:
    return TestClient(create_app(Settings(**settings)), base_url="http://127.0.0.1:8080")  # type: ignore[arg-type]


def test_proxy_origin_refused_without_public_url() -> None:
    answer = client().post("/query", json=QUERY, headers={"Origin": PUBLIC})
    assert answer.status_code == 403
    assert "--public-url" in answer.json()["errors"][0]["message"]


def test_proxy_origin_is_same_origin_with_public_url() -> None:
    agent = client(public_origins=(PUBLIC,))
    answer = agent.post("/query", json=QUERY, headers={"Origin": PUBLIC})
    assert answer.status_code == 200 and answer.json()["data"]["serverInfo"]["version"]
    assert "access-control-allow-origin" not in answer.headers  # not CORS: same-origin
    evil = agent.post("/query", json=QUERY, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    # The public name is served (a proxy that passes Host through), other names are not.
    assert agent.get("/healthz", headers={"Host": "ops.example:8443"}).status_code == 200
    assert agent.get("/healthz", headers={"Host": "evil.example"}).status_code == 403


def test_static_files_whatever_the_origin_but_not_data() -> None:
    agent = client()
    page = agent.get("/ui/").text
    script = re.search(r'src="(/static/[^"]+/ui/app\.js)"', page)
    assert script is not None
    foreign = {"Origin": "https://evil.example"}
    assert agent.get(script.group(1), headers=foreign).status_code == 200
    assert agent.post("/query", json=QUERY, headers=foreign).status_code == 403
    assert agent.get("/metrics", headers=foreign).status_code == 403


@pytest.mark.parametrize(
    ("url", "prefix", "origin"),
    [("https://ops.example/phydev/", "/phydev/", "https://ops.example"),
     ("HTTPS://Ops.Example:443/phydev", "/phydev/", "https://ops.example"),
     ("http://10.1.2.3:8080", "/", "http://10.1.2.3:8080")],
)  # fmt: skip
def test_public_url_origin(url: str, prefix: str, origin: str) -> None:
    assert public_url_origin(url, prefix) == origin


@pytest.mark.parametrize(
    ("url", "prefix", "says"),
    [("https://ops.example/other/", "/phydev/", "is not the --path-prefix /phydev/"),
     ("https://ops.example/", "/phydev/", "its path / is not"),
     ("ops.example", "/", "is not an origin"),
     ("https://ops.example/?a=1", "/", "no query")],
)  # fmt: skip
def test_public_url_refusals(url: str, prefix: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        public_url_origin(url, prefix)


def test_cli_names_the_problem() -> None:
    result = run_phydev("server", "--public-url", "https://ops.example/x/", check=False)
    assert result.returncode == 2
    assert "--public-url" in result.stderr and "--path-prefix /x/" in result.stderr
