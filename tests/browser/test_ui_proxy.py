"""The agent behind a real nginx configured with the README's snippet (which rewrites Host,
nginx's default), under --path-prefix with --auth-token: without --public-url the page's
requests are refused and the UI says why (not a bare "403"); with it GraphiQL and the web UI
work as they do directly."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PREFIX, TOKEN, Tab
from tests.browser.test_graphiql import run_and_read_result, type_token
from tests.conftest import PacketFixture, PhydevServer, free_port, require_kernel
from tests.e2e.conftest import HASH_ENTRIES, OwnMaps
from tests.nginx import nginx_proxy


@contextmanager
def proxied_agent(ui_maps: OwnMaps, *args: str) -> Iterator[str]:
    """An agent under PREFIX with the token, behind nginx (tests/nginx.py); yields nginx's
    URL (the public one). `args` may name it: {public} is replaced by that URL."""
    require_kernel()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    agent = PhydevServer("--path-prefix", PREFIX, "--auth-token", TOKEN,
                         *(a.replace("{public}", public) for a in args),
                         bpf_dir=ui_maps.bpf_dir)  # fmt: skip
    try:
        agent.wait_ready(path=PREFIX + "healthz")
        work = Path(tempfile.mkdtemp(prefix="devagent-nginx-"))
        with nginx_proxy(port, agent.port, PREFIX, work):
            yield public
    finally:
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


def test_graphiql_behind_the_proxy(
    tab: Tab, behind_proxy: str, packet_fixture: PacketFixture
) -> None:
    page = tab.page
    tab.watch.allow.append("status of 401")  # the schema, asked before the token is typed
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(behind_proxy + PREFIX)
    expect(page.get_by_role("tab", name="Navigation")).to_be_visible(timeout=15_000)
    type_token(tab, TOKEN)
    answer = run_and_read_result(tab)
    ids = {p["id"] for p in answer["data"]["programs"]}  # type: ignore[index]
    assert set(packet_fixture.obj.prog_ids.values()) <= ids
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
