"""The agent behind a reverse proxy that rewrites Host (nginx's default), under --path-prefix
with --auth-token: without --public-url the page's requests are refused and the UI says why
(not a bare "403"); with it GraphiQL and the web UI work as they do directly."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PREFIX, TOKEN, Tab
from tests.browser.test_graphiql import run_and_read_result, type_token
from tests.conftest import ROOT, PhydevServer, free_port, require_kernel
from tests.e2e.conftest import HASH_ENTRIES, OwnMaps


@contextmanager
def proxied_agent(ui_maps: OwnMaps, *args: str) -> Iterator[str]:
    """An agent under PREFIX with the token, behind tests/proxy.py; yields the proxy's URL
    (the public one). `args` may name it: {public} is replaced by that URL."""
    require_kernel()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    agent = PhydevServer("--path-prefix", PREFIX, "--auth-token", TOKEN,
                         *(a.replace("{public}", public) for a in args),
                         bpf_dir=ui_maps.bpf_dir)  # fmt: skip
    proxy = None
    try:
        agent.wait_ready(path=PREFIX + "healthz")
        proxy = subprocess.Popen(
            [sys.executable, "-m", "tests.proxy", str(port), str(agent.port)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proxy.stdout is not None and proxy.stdout.readline().strip() == "proxy: ready"
        yield public
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        agent.stop()


@pytest.fixture(scope="module")
def behind_proxy(ui_maps: OwnMaps) -> Iterator[str]:
    with proxied_agent(ui_maps, "--public-url", "{public}" + PREFIX) as url:
        yield url


def test_without_public_url_the_refusal_is_explained(tab: Tab, ui_maps: OwnMaps) -> None:
    tab.watch.allow.append("status of 403")
    with proxied_agent(ui_maps) as public:
        page = tab.page
        page.goto(public + PREFIX + "ui/")
        page.evaluate(f"sessionStorage.setItem('phydev.token', {TOKEN!r})")
        page.goto(public + PREFIX + "ui/maps")
        alert = page.get_by_role("alert").filter(has_text="maps:")
        expect(alert).to_contain_text(f"cross-origin requests from {public} are not allowed")
        expect(alert).to_contain_text("--public-url")


def test_graphiql_behind_the_proxy(tab: Tab, behind_proxy: str) -> None:
    page = tab.page
    tab.watch.allow.append("status of 401")  # the schema, asked before the token is typed
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(behind_proxy + PREFIX)
    expect(page.get_by_role("tab", name="Navigation")).to_be_visible(timeout=15_000)
    type_token(tab, TOKEN)
    answer = run_and_read_result(tab)
    assert answer["data"]["programs"]  # type: ignore[index]
    page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    docs.get_by_role("link", name="Query").first.click()
    expect(docs.get_by_role("link", name="Program").first).to_be_visible()
    assert requests and all(u.startswith(behind_proxy + PREFIX) for u in requests)


def test_web_ui_behind_the_proxy(tab: Tab, behind_proxy: str, ui_maps: OwnMaps) -> None:
    page = tab.page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(behind_proxy + PREFIX + "ui/")
    form = page.get_by_test_id("token-form")
    form.get_by_label("bearer token").fill(TOKEN)
    form.get_by_role("button", name="Use token").click()
    expect(page.locator('dd[data-field="kernelRelease"]')).not_to_be_empty()
    page.get_by_role("link", name="Maps", exact=True).click()
    expect(page.get_by_test_id("maps")).to_be_visible()
    page.goto(f"{behind_proxy}{PREFIX}ui/maps/{ui_maps.id('t_hash')}")
    expect(page.get_by_test_id("entries-count")).to_have_text(str(HASH_ENTRIES))
    page.go_back()
    expect(page.get_by_test_id("maps")).to_be_visible()
    assert requests and all(u.startswith(behind_proxy + PREFIX) for u in requests)
