"""The pages and static files, in process (no kernel needed): security headers, versioned
URLs with long caching, content types, compression, and no way out of the static tree."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from devagent.model.settings import Settings
from devagent.web.app import create_app
from devagent.web.static_files import STATIC_ROOT, StaticFiles

CSP_SELF = "default-src 'self'; script-src 'self'; style-src 'self'"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(path_prefix="/agent/")), base_url="http://localhost")


def assets(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/[^"]+/static/[^"]+|/static/[^"]+)"', html)


def test_graphiql_page_headers_and_nonce(client: TestClient) -> None:
    first, second = client.get("/agent/"), client.get("/")
    for response in (first, second):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert csp.startswith("default-src 'self'; script-src 'self'; style-src 'self' 'nonce-")
        assert "frame-ancestors 'none'" in csp and "http" not in csp
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce and f'"styleNonce": "{nonce.group(1)}"' in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
    assert first.headers["content-security-policy"] != second.headers["content-security-policy"]
    assert '"endpoint": "/agent/query"' in first.text
    assert "<script>" not in first.text  # nothing inline: the CSP would refuse it


def test_every_ui_path_gets_the_app_page(client: TestClient) -> None:
    pages = [client.get(p) for p in ("/agent/ui/", "/agent/ui/maps/12", "/ui/graph/map/3")]
    assert all(p.status_code == 200 for p in pages)
    assert pages[0].text == pages[1].text == pages[2].text
    assert pages[0].headers["content-security-policy"].startswith(CSP_SELF + ";")
    assert '"ui": "/agent/ui/"' in pages[0].text


def test_static_files_versioned_cached_typed_and_compressed(client: TestClient) -> None:
    urls = assets(client.get("/agent/").text) + assets(client.get("/agent/ui/").text)
    assert len(urls) >= 8 and all(u.startswith("/agent/static/") for u in urls)
    digest = urls[0].split("/")[3]
    assert all(u.split("/")[3] == digest for u in urls)
    for url in urls:
        response = client.get(url, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        rel = url.split("/", 4)[4]
        assert response.content == (STATIC_ROOT / rel).read_bytes()
    js = client.get(f"/agent/static/{digest}/vendor/preact/preact.mjs",
                    headers={"Accept-Encoding": "gzip"})  # fmt: skip
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.headers["content-encoding"] == "gzip"
    raw = client.get(f"/static/{digest}/ui/app.css", headers={"Accept-Encoding": "identity"})
    assert raw.headers["content-type"] == "text/css; charset=utf-8"
    assert "content-encoding" not in raw.headers


def test_compressed_body_is_the_file(client: TestClient) -> None:
    digest = assets(client.get("/").text)[0].split("/")[2]
    # Ask without letting the client decode, to see the bytes on the wire.
    with client.stream("GET", f"/static/{digest}/vendor/graphiql/graphiql.min.js",
                       headers={"Accept-Encoding": "gzip"}) as response:  # fmt: skip
        wire = b"".join(response.iter_raw())
    plain = (STATIC_ROOT / "vendor/graphiql/graphiql.min.js").read_bytes()
    assert gzip.decompress(wire) == plain and len(wire) < len(plain) / 2


def test_other_digest_is_served_but_not_cached(client: TestClient) -> None:
    response = client.get("/static/000000000000/ui/app.js")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "rel",
    ["../pages.py", "ui/../../app.py", "ui", "ui/", "nope.js", "ui//app.js", "./ui/app.js",
     "..%2fpages.py", "/etc/passwd", "ui\\app.js", "../static_files.py", ""],
)  # fmt: skip
def test_nothing_outside_the_static_tree(rel: str) -> None:
    response = StaticFiles().response("abc", rel, "gzip")
    assert response.status_code == 404
    assert b"def " not in response.body


def test_encoded_dot_dot_over_http(client: TestClient) -> None:
    for path in ("/static/abc/..%2fpages.py", "/static/abc/%2e%2e/pages.py", "/static/abc/ui"):
        response = client.get(path)
        assert response.status_code == 404 and "def " not in response.text


def test_static_tree_has_only_served_types() -> None:
    """A file of a type without a content type would be refused: none may exist."""
    from devagent.web.static_files import CONTENT_TYPES

    suffixes = {p.suffix for p in Path(STATIC_ROOT).rglob("*") if p.is_file()}
    assert suffixes <= set(CONTENT_TYPES)
