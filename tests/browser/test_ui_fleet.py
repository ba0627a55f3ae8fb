"""The fleet page (/ui/fleet) in a real browser, against three agents and a real Prometheus
(tests/e2e/test_fleet.py's fixture), at a desktop and a phone size; and what an agent without
--prometheus shows there. With DEVAGENT_UPDATE_SCREENSHOTS=1 the desktop view is kept as
docs/ui/fleet.png."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import open_ui, table_rows
from tests.conftest import ROOT, PacketFixture, PhydevServer
from tests.fleet import NODES, Fleet, running_fleet, swapped_programs
from tests.pump import PROG_NAME, PacketPump

UPDATE = os.environ.get("DEVAGENT_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def fleet(packet_fixture: PacketFixture, packet_pump: PacketPump) -> Iterator[Fleet]:
    with running_fleet(packet_fixture, packet_pump) as made:
        yield made


@pytest.mark.parametrize("size", [(1400, 900), (390, 844)], ids=["desktop", "phone"])
def test_the_fleet_page_shows_every_node(
    tab: Tab, fleet: Fleet, tmp_path: Path, size: tuple[int, int]
) -> None:
    page = tab.page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    open_ui(tab, fleet.viewer, "fleet")
    expect(page.get_by_test_id("fleet-source")).to_contain_text(fleet.prometheus.url)
    expect(page.get_by_test_id("fleet-window")).to_have_text("10s")  # raw series, the flag's
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Fleet")
    expect(page.locator('[data-testid="fleet-nodes"] [data-key]')).to_have_count(len(NODES))
    nodes = table_rows(tab, "fleet-nodes")
    assert sorted(nodes) == sorted(NODES)
    for name, cells in nodes.items():
        assert cells[1] == "yes" and int(cells[2].replace(",", "")) >= 2, cells
        link = page.locator(f'[data-testid="fleet-nodes"] [data-key="{name}"] a')
        assert link.get_attribute("href") == f"{fleet.agents[name].url}/ui/"
    # the pump's filter on every node, ranked by events/s
    page.get_by_label("rank by").select_option("EVENTS")
    ours = [f"{n}/{fleet.pump.prog_id}" for n in NODES]
    for key in ours:
        expect(page.locator(f'[data-testid="fleet-top"] [data-key="{key}"]')).to_be_visible()
    top = table_rows(tab, "fleet-top")
    assert all(PROG_NAME in top[key][1] for key in ours)
    expect(page.get_by_test_id("fleet-history")).to_be_visible()
    assert table_rows(tab, "fleet-maps")
    # where does it run: by name
    page.get_by_label("program name or tag").fill(PROG_NAME)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_test_id("fleet-where-summary")).to_contain_text("on 3 node(s)")
    where = table_rows(tab, "fleet-where")
    assert {key for key in where if key.endswith(f"/{fleet.pump.prog_id}")} == set(ours)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= size[0], f"the page is {width} px wide at {size[0]}"
    if size[0] == 1400:
        page.evaluate("window.scrollTo(0, 0)")
        out = ROOT / "docs" / "ui" if UPDATE else tmp_path
        target = out / "fleet.png"
        page.screenshot(path=str(target))
        assert struct.unpack(">II", target.read_bytes()[16:24]) == (1400, 900)


def test_without_prometheus_the_page_says_how(tab: Tab, ro_agent: PhydevServer) -> None:
    open_ui(tab, ro_agent, "fleet")
    off = tab.page.get_by_test_id("fleet-off")
    expect(off).to_contain_text("--prometheus")
    expect(off).to_contain_text("--node-name")


def test_what_changed_on_the_fleet_page(tab: Tab, fleet: Fleet) -> None:
    """The page's "What changed" section, deep-linked to a window Prometheus holds (?since=):
    the unloaded program gone, the new one new, the doubled one 1 → 2, on every node; the
    window select then asks for the last day, which this young Prometheus cannot answer."""
    page = tab.page
    with swapped_programs(fleet) as seconds:
        open_ui(tab, fleet.viewer, f"fleet?since={seconds}")
        for node in NODES:
            row = page.locator(f'[data-testid="fleet-changes"] [data-key^="{node}/fleet_new/"]')
            expect(row).to_be_visible()
        changes = table_rows(tab, "fleet-changes")
    expect(page.get_by_label("changed over")).to_have_value(str(seconds))
    ours = {key.rsplit("/", 1)[0]: cells for key, cells in changes.items() if "/fleet_" in key}
    for node in NODES:
        assert ours[f"{node}/fleet_gone"][4] == "gone (1)"
        assert ours[f"{node}/fleet_new"][4] == "new (1)"
        assert ours[f"{node}/fleet_twice"][4] == "1 → 2"
        assert ours[f"{node}/fleet_new"][2] == "SocketFilter"
    page.get_by_label("changed over").select_option("86400")
    expect(page.locator("main")).to_contain_text("holds no inventory from 86400 s ago")
    assert "since=86400" in page.url
