"""The agent's own objects in the web UI: the server's iterator programs, links and map are
hidden from the lists and the overview's rankings until "show the agent's own objects" is
ticked (one choice for every page, kept for the browser), and marked on their own pages;
a program of this (non-phydev) test process named like them is always shown."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from devagent.bpf.agent_objects import CPUS_MAP_NAME, PROGRAM_NAMES, WALK_PROGRAM_NAME
from devagent.bpf.handles import Fd
from devagent.bpf.objects import program_info
from devagent.bpf.progs import load_program, return_imm
from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import open_ui
from tests.conftest import PhydevServer, require_kernel

SOCKET_FILTER = 1
TOGGLE = re.compile(r"show the agent's own objects")


@pytest.fixture(scope="module")
def impostor() -> Iterator[int]:
    """A socket filter named phydev_walk, held by this test process."""
    require_kernel()
    fd: Fd = load_program(SOCKET_FILTER, return_imm(0), name=WALK_PROGRAM_NAME)
    try:
        yield program_info(fd).id
    finally:
        fd.close()


def gql(server: PhydevServer, text: str) -> dict[str, Any]:
    req = urllib.request.Request(server.url + "/query", data=json.dumps({"query": text}).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        return dict(json.loads(resp.read())["data"])


@pytest.fixture(scope="module")
def server_own(ro_agent: PhydevServer, impostor: int) -> dict[str, set[int]]:
    """The ids of the server's own iterators (held by its process), once it has them all
    and its snapshot has the impostor."""
    pid = ro_agent.proc.pid
    query = ("{ programs { id name owners { pid } } maps { id name owners { pid } } "
             "links { id owners { pid } } }")  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        data = gql(ro_agent, query)
        own = {
            "programs": _held(data["programs"], pid, PROGRAM_NAMES),
            "maps": _held(data["maps"], pid, frozenset((CPUS_MAP_NAME,))),
            "links": _held(data["links"], pid),
        }
        seen = impostor in {p["id"] for p in data["programs"]}
        if seen and [len(v) for v in own.values()] == [2, 1, 2]:
            return own
        assert time.monotonic() < deadline, own
        time.sleep(0.2)


def _held(objects: list[dict[str, Any]], pid: int, names: frozenset[str] | None = None) -> set[int]:
    """Ids of the objects process `pid` holds (of those names)."""
    return {o["id"] for o in objects if any(x["pid"] == pid for x in o["owners"])
            and (names is None or o["name"] in names)}  # fmt: skip


def row(tab: Tab, testid: str, key: int) -> Any:
    return tab.page.locator(f'[data-testid="{testid}"] [data-key="{key}"]')


def test_lists_hide_the_agents_own_until_the_toggle(
    tab: Tab, ro_agent: PhydevServer, impostor: int, server_own: dict[str, set[int]]
) -> None:
    page = tab.page
    # Programs: filtered to the iterators' names, so every such row is in view.
    open_ui(tab, ro_agent, "programs?q=phydev_")
    expect(row(tab, "programs", impostor)).to_be_visible(timeout=15_000)
    for prog_id in server_own["programs"]:
        expect(row(tab, "programs", prog_id)).to_have_count(0)
    toggle = page.get_by_label(TOGGLE)
    expect(toggle).not_to_be_checked()
    toggle.check()
    for prog_id in server_own["programs"]:
        expect(row(tab, "programs", prog_id)).to_be_visible()
    expect(row(tab, "programs", impostor)).to_be_visible()

    # Maps: the choice is the browser's, for every page.
    open_ui(tab, ro_agent, f"maps?q={CPUS_MAP_NAME}")
    expect(page.get_by_label(TOGGLE)).to_be_checked()
    (map_id,) = server_own["maps"]
    expect(row(tab, "maps", map_id)).to_be_visible(timeout=15_000)
    page.get_by_label(TOGGLE).uncheck()
    expect(row(tab, "maps", map_id)).to_have_count(0)

    # Links: hidden again, until ticked.
    open_ui(tab, ro_agent, "links")
    for link_id in server_own["links"]:
        expect(row(tab, "links", link_id)).to_have_count(0)
    page.get_by_label(TOGGLE).check()
    for link_id in server_own["links"]:
        expect(row(tab, "links", link_id)).to_be_visible(timeout=15_000)


def test_overview_rankings_leave_them_out_and_pages_mark_them(
    tab: Tab, ro_agent: PhydevServer, impostor: int, server_own: dict[str, set[int]]
) -> None:
    open_ui(tab, ro_agent, "")
    expect(tab.page.get_by_label(TOGGLE)).not_to_be_checked()
    top = tab.page.get_by_test_id("top-programs")
    if top.count():
        keys = {int(k) for k in top.locator("[data-key]").evaluate_all(
            "rows => rows.map((r) => r.dataset.key)")}  # fmt: skip
        assert not keys & server_own["programs"]

    walker = min(server_own["programs"])
    open_ui(tab, ro_agent, f"programs/{walker}")
    expect(tab.page.get_by_test_id("agent-badge")).to_have_text("the agent's own")
    open_ui(tab, ro_agent, f"maps/{min(server_own['maps'])}")
    expect(tab.page.get_by_test_id("agent-badge")).to_be_visible()
    open_ui(tab, ro_agent, f"programs/{impostor}")
    expect(tab.page.get_by_role("heading", name=re.compile(f"#{impostor}"))).to_be_visible()
    expect(tab.page.get_by_test_id("agent-badge")).to_have_count(0)
