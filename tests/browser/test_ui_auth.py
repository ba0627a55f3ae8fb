"""The web UI under --path-prefix with --auth-token: it asks for the token once, keeps it for
the tab (sessionStorage), says so when the agent refuses it, and every request stays under the
prefix."""

from __future__ import annotations

import re
import socket

from playwright.sync_api import Browser, expect

from tests.browser.conftest import PREFIX, TOKEN, Tab
from tests.conftest import PhydevServer


def test_token_asked_once_per_tab_under_the_prefix(
    tab: Tab, browser: Browser, token_agent: PhydevServer
) -> None:
    page = tab.page
    tab.watch.allow.append("status of 401")  # the wrong token, refused by the agent
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(token_agent.url + PREFIX + "ui/")
    form = page.get_by_test_id("token-form")
    expect(form).to_be_visible()
    form.get_by_label("bearer token").fill("not-the-token")
    form.get_by_role("button", name="Use token").click()
    expect(form.get_by_role("alert")).to_contain_text("refused the token")
    form.get_by_label("bearer token").fill(TOKEN)
    form.get_by_role("button", name="Use token").click()
    expect(page.locator('dd[data-field="hostname"]')).to_have_text(socket.gethostname())
    page.get_by_role("link", name="Programs", exact=True).click()
    expect(page).to_have_url(token_agent.url + PREFIX + "ui/programs")
    expect(page.get_by_test_id("programs")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("programs")).to_be_visible()
    expect(page.get_by_test_id("token-form")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('phydev.token')") == TOKEN
    assert requests and all(u.startswith(token_agent.url + PREFIX) for u in requests)
    # GraphiQL in the same tab finds the token too.
    page.get_by_role("link", name="GraphiQL").click()
    expect(page.get_by_label("bearer token")).to_have_value(TOKEN)

    other = browser.new_context()  # another tab of another session: asked again
    try:
        fresh = other.new_page()
        fresh.goto(token_agent.url + PREFIX + "ui/maps")
        expect(fresh.get_by_test_id("token-form")).to_be_visible()
    finally:
        other.close()


def test_deep_link_under_the_prefix(tab: Tab, token_agent: PhydevServer) -> None:
    page = tab.page
    page.goto(token_agent.url + PREFIX + "ui/")
    page.evaluate(f"sessionStorage.setItem('phydev.token', {TOKEN!r})")
    page.goto(token_agent.url + PREFIX + "ui/maps?sort=id&desc=0")
    expect(page.get_by_role("button", name="ID ▲")).to_be_visible()
    first = page.locator('[data-testid="maps"] [data-key]').first
    map_id = first.get_attribute("data-key")
    first.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"{PREFIX}ui/maps/{map_id}$"))
    expect(page.get_by_role("heading", name=re.compile(f"#{map_id}"))).to_be_visible()
