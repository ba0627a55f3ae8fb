"""The README's pictures of the web UI, taken by this harness: each main page is loaded and
photographed. They are written to docs/ui/ only when DEVAGENT_UPDATE_SCREENSHOTS=1 (then
commit them); otherwise to a temporary directory, so a test run leaves the tree clean while
still proving every page renders something worth showing."""

from __future__ import annotations

import os
import re
import struct
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import open_ui
from tests.conftest import (
    ROOT,
    FrozenCounters,
    LinkFixture,
    PhydevServer,
    StatsHold,
    bpftool_json,
)
from tests.pump import PacketPump

UPDATE = os.environ.get("DEVAGENT_UPDATE_SCREENSHOTS") == "1"
MAX_BYTES = 200_000  # README images stay small


def test_screenshots_of_the_main_pages(
    tab: Tab,
    ro_agent: PhydevServer,
    stats_enabled: StatsHold,
    frozen_counters: FrozenCounters,
    link_fixture: LinkFixture,
    tmp_path: Path,
) -> None:
    out = ROOT / "docs" / "ui" if UPDATE else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    page = tab.page
    page.set_viewport_size({"width": 1200, "height": 720})
    xdp_prog = bpftool_json("link", "show", "id", str(link_fixture.xdp_link_id))["prog_id"]  # type: ignore[index]
    packet_pump = PacketPump()  # its own: the session's pump belongs to the rate tests
    pid = packet_pump.prog_id
    packet_pump.start(500)
    try:
        open_ui(tab, ro_agent, f"programs/{pid}")  # asking for rates starts the sampling
        # Long enough for a few points on the charts (a pretty README is worth it only then).
        time.sleep(8 if UPDATE else 2.5)
        shots = {
            "overview": "",
            "programs": "programs?sort=cpu&desc=1",
            "program": f"programs/{pid}",
            "map-entries": f"maps/{frozen_counters.at_map_id}?kf=STRING&vf=NUMBER",
            # The XDP link's program: its interface, and through a shared map the cgroup
            # link's program and its cgroup (attach points drawn as nodes).
            "graph": f"graph/program/{xdp_prog}",
            "links": "links",
            "programs-phone": "programs?sort=cpu&desc=1",  # at 390x844
        }
        for name, path in shots.items():
            phone = name.endswith("-phone")
            size = {"width": 390, "height": 844} if phone else {"width": 1200, "height": 720}
            page.set_viewport_size(size)
            open_ui(tab, ro_agent, path)
            if name == "graph":
                expect(page.get_by_test_id("graph")).to_have_attribute("data-ready", "yes")
            if name == "links":
                row = page.locator(f'[data-key="{link_fixture.xdp_link_id}"]')
                expect(row).to_be_visible(timeout=15_000)
            if name.startswith("programs"):
                # A drawn line (a constant rate draws a flat one, which has no height).
                spark = page.locator(f'[data-key="{pid}"] svg.spark path').first
                expect(spark).to_have_attribute("d", re.compile(r"^M.*L"))
            if name == "program":
                expect(page.locator('dd[data-field="eventsPerSecond"]')).not_to_have_text("—")
                expect(page.get_by_test_id("chart-events").locator("canvas")).to_be_visible()
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=name == "program")  # with its charts
            data = target.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = struct.unpack(">II", data[16:24])
            assert (width, height) == (size["width"], size["height"]) or name == "program"
            assert 10_000 < len(data) < MAX_BYTES, f"{name}.png is {len(data)} bytes"
    finally:
        packet_pump.close()
