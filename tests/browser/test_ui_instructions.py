"""The program page's full name, metadata and Instructions view, against bpftool: the
translated instructions in bpftool's words and order, with links to the maps they load, and
the JIT code covering the whole image."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import field, open_ui
from tests.conftest import InspectFixture, PhydevServer, bpftool_json


@pytest.fixture(scope="module")
def inspect_agent(inspect_fixture: InspectFixture) -> Iterator[PhydevServer]:
    server = PhydevServer(bpf_dir=str(inspect_fixture.mount.path))
    server.wait_ready(path="/healthz")
    yield server
    server.stop()


def test_xlated_instructions_equal_bpftool(
    tab: Tab, inspect_agent: PhydevServer, inspect_fixture: InspectFixture
) -> None:
    prog_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    info = bpftool_json("prog", "show", "id", str(prog_id))
    ref = bpftool_json("prog", "dump", "xlated", "id", str(prog_id), "linum")
    assert isinstance(info, dict) and isinstance(ref, list)
    open_ui(tab, inspect_agent, f"programs/{prog_id}")
    page = tab.page
    expect(page.get_by_role("heading", level=1)).to_contain_text(info["name"])  # the full name
    assert field(tab, "fullName") == info["name"]
    for key, value in info.get("metadata", {}).items():
        assert f"{key} = {value}" in field(tab, "metadata")
    page.get_by_role("button", name="show translated (xlated)").click()
    expect(page).to_have_url(re.compile(r"insns=xlated"))
    expect(page.get_by_test_id("insn-count")).to_have_text(f"{len(ref)} instructions")
    texts = page.locator('[data-testid="instructions"] .insn-text').all_inner_texts()
    assert texts == [i["disasm"] for i in ref]
    sources = {i["src"] for i in ref if i.get("src")}
    shown = page.locator("tr.insn-src .insn-src-text").all_inner_texts()
    assert {s.strip() for s in sources} == {s.strip() for s in shown}
    map_link = page.locator('[data-testid="instructions"] a[href*="/ui/maps/"]').first
    href = map_link.get_attribute("href") or ""
    map_id = int(href.rsplit("/", 1)[1])
    assert map_id in info["map_ids"]
    map_link.click()
    expect(page).to_have_url(re.compile(rf"/ui/maps/{map_id}$"))
    page.go_back()
    expect(page.get_by_test_id("insn-count")).to_have_text(f"{len(ref)} instructions")


def test_jited_code_covers_the_image(
    tab: Tab, inspect_agent: PhydevServer, inspect_fixture: InspectFixture
) -> None:
    pytest.importorskip("capstone")  # a dev dependency: the server disassembles with it
    prog_id = inspect_fixture.prog_id("inspect_xdp")
    info = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(info, dict)
    open_ui(tab, inspect_agent, f"programs/{prog_id}?insns=jited")
    expect(tab.page.get_by_test_id("insn-count")).to_contain_text("instructions")
    rows = tab.page.locator('[data-testid="instructions"] .insn-bytes').all_inner_texts()
    assert sum(len(r.strip()) // 2 for r in rows) == info["bytes_jited"]
    funcs = tab.page.locator("tr.insn-func").all_inner_texts()
    assert any(f"bpf_prog_{info['tag']}_inspect_xdp" in f for f in funcs)
