"""GraphiQL at `/`: offline (every file from the agent), runs the explorer's queries against
`<path-prefix>query`, documents the schema, and sends the bearer token from its field."""

from __future__ import annotations

import json

from playwright.sync_api import Response, expect

from tests.browser.conftest import PREFIX, TOKEN, Tab
from tests.conftest import PacketFixture, PhydevServer, bpftool_json


def run_and_read_result(tab: Tab) -> dict[str, object]:
    """Click GraphiQL's run button and return the JSON it shows in its result pane."""
    page = tab.page
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    result = page.locator(".result-window .CodeMirror")
    expect(result).to_contain_text('"data"', timeout=15_000)
    text = page.evaluate(
        "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
    )
    return json.loads(text)  # type: ignore[no-any-return]


def schema_with_token(response: Response) -> bool:
    """GraphiQL's introspection, answered (it is asked again once a token is typed)."""
    asked = response.request.post_data or ""
    return "IntrospectionQuery" in asked and response.status == 200


def type_token(tab: Tab, token: str) -> None:
    """Type the token in the bar and press Enter; return once GraphiQL, mounted again, has
    the schema (asked with the token)."""
    field = tab.page.get_by_label("bearer token")
    field.fill(token)
    with tab.page.expect_response(schema_with_token):
        field.press("Enter")


def test_graphiql_runs_a_query_and_documents_the_schema(
    tab: Tab, ro_agent: PhydevServer, packet_fixture: PacketFixture
) -> None:
    page = tab.page
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(ro_agent.url + "/")
    expect(page.get_by_role("tab", name="Navigation")).to_be_visible(timeout=15_000)
    answer = run_and_read_result(tab)
    ids = {p["id"] for p in answer["data"]["programs"]}  # type: ignore[index]
    kernel = {p["id"] for p in bpftool_json("prog", "show")}  # type: ignore[union-attr]
    # Programs of our own are loaded (a fresh machine may have none), the rest as the kernel
    # lists them (others load and unload meanwhile).
    assert set(packet_fixture.obj.prog_ids.values()) <= ids
    assert len(ids & kernel) >= 0.9 * len(kernel)
    assert ro_agent.url + "/query" in requests
    # Every file came from the agent: the page works offline.
    assert all(u.startswith(ro_agent.url) or u.startswith("data:") for u in requests)
    page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = page.locator(".graphiql-doc-explorer")
    expect(docs).to_contain_text("Query", timeout=10_000)
    docs.get_by_role("link", name="Query").first.click()
    expect(docs).to_contain_text("programs")
    expect(docs.get_by_role("link", name="Program").first).to_be_visible()


def test_graphiql_token_field_and_prefix(tab: Tab, token_agent: PhydevServer) -> None:
    """Under --path-prefix the page posts to <prefix>query; the token field adds the header,
    and without it the server's own refusal is shown."""
    page = tab.page
    tab.watch.allow.append("status of 401")
    posted: list[tuple[str, str | None]] = []
    page.on("request", lambda r: r.method == "POST" and posted.append(
        (r.url, r.headers.get("authorization"))))  # fmt: skip
    page.goto(token_agent.url + PREFIX)
    expect(page.get_by_role("tab", name="Navigation")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    expect(page.locator(".result-window")).to_contain_text("missing or wrong bearer token")
    type_token(tab, TOKEN)
    answer = run_and_read_result(tab)
    assert answer["data"]["maps"]  # type: ignore[index]
    assert (token_agent.url + PREFIX + "query", f"Bearer {TOKEN}") in posted
    assert all(url == token_agent.url + PREFIX + "query" for url, _ in posted)
