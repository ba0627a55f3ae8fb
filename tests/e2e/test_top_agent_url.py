"""`phydev top --agent` takes the agent the way people paste it (issue 22, item 5):
HOST:PORT, the base URL, the web UI's URL (/ui, /ui/, a deep link) or the /query endpoint,
under a --path-prefix too; anything else is one clear line and exit status 1, before any
request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devagent.cli.top.agent_url import agent_endpoint
from devagent.cli.top.frame import SourceError
from tests.conftest import PhydevServer, require_kernel, run_phydev


@pytest.mark.parametrize(
    ("given", "endpoint"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080/query"),
        ("localhost:9", "http://localhost:9/query"),
        ("agent.example", "http://agent.example/query"),
        ("http://h:8080", "http://h:8080/query"),
        ("http://h:8080/", "http://h:8080/query"),
        ("HTTPS://h:8443/query", "https://h:8443/query"),
        ("http://h:8080/query/", "http://h:8080/query"),
        ("http://h:8080/ui", "http://h:8080/query"),
        ("http://h:8080/ui/", "http://h:8080/query"),
        ("http://h:8080/ui/programs/12", "http://h:8080/query"),
        ("https://ops.example/phydev/ui/", "https://ops.example/phydev/query"),
        ("https://ops.example/phydev/", "https://ops.example/phydev/query"),
        ("[::1]:8080", "http://[::1]:8080/query"),
        ("  127.0.0.1:8080/ui/  ", "http://127.0.0.1:8080/query"),
    ],
)
def test_accepted_forms(given: str, endpoint: str) -> None:
    assert agent_endpoint(given) == endpoint


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("", "--agent is empty"),
        ("ftp://h:21/", "not an http:// or https:// URL"),
        ("file:///etc/passwd", "not an http:// or https:// URL"),
        ("127.0.0.1:http", "Port could not be cast"),
        ("127.0.0.1:99999", "out of range"),
        ("http://h:8080/metrics", "is no page of the agent"),
        ("http://h:8080/healthz", "is no page of the agent"),
        ("http://h:8080/query?x=1", "no query string"),
        ("http://u:p@h:8080/", "--auth-token-file"),
        ("http://:8080/", "no host"),
    ],
)
def test_refused_forms(given: str, says: str) -> None:
    with pytest.raises(SourceError) as caught:
        agent_endpoint(given)
    text = str(caught.value)
    assert says in text and "\n" not in text
    if "no page" in says or "empty" in says or "http://" in says:
        assert "HOST:PORT" in text


@pytest.fixture(scope="module")
def prefixed_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhydevServer]:
    require_kernel()
    server = PhydevServer(
        "--path-prefix", "/pfx/", bpf_dir=str(tmp_path_factory.mktemp("bpffs-none"))
    )
    server.wait_ready(path="/pfx/healthz")
    yield server
    server.stop()


@pytest.mark.parametrize("form", ["{hp}/pfx", "http://{hp}/pfx/ui/", "{hp}/pfx/ui/programs",
                                  "http://{hp}/pfx/query"])  # fmt: skip
def test_top_reaches_a_real_agent_by_each_form(prefixed_agent: PhydevServer, form: str) -> None:
    url = form.format(hp=f"127.0.0.1:{prefixed_agent.port}")
    result = run_phydev("top", "--agent", url, "--json", "--count", "1", check=False)
    assert result.returncode == 0, result.stderr
    frame = json.loads(result.stdout.splitlines()[0])
    assert isinstance(frame["programs"], list) and "total" in frame  # a 404 would exit 1


def test_top_refuses_a_wrong_url_in_one_line(tmp_path: Path) -> None:
    result = run_phydev("top", "--agent", "http://127.0.0.1:9/metrics", "--count", "1",
                        check=False)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("phydev top: --agent http://127.0.0.1:9/metrics: ")
    assert "HOST:PORT" in result.stderr and len(result.stderr.strip().splitlines()) == 1
