"""The web UI says which run-statistics mode is in force and how to change it (issue 22,
item 2): on the overview (host facts), the programs list and a program's page, for each of
the server's three policies, in Chromium against real servers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Tab, _agent
from tests.browser.test_ui_pages import open_ui
from tests.conftest import PhydevServer, require_kernel
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_metrics_server import holds_stats_fd

POLICIES = {
    # flag: (badge, words the policy text must hold, whether the fd is held after a look)
    "": ("on demand", ("while someone watches", "--enable-stats", "--no-enable-stats"), True),
    "--enable-stats": ("always on", ("always on", "without --enable-stats"), True),
    "--no-enable-stats": ("never", ("--no-enable-stats", "bpf_stats_enabled=1"), False),
}


@pytest.fixture(params=list(POLICIES), ids=["on-demand", "always", "never"])
def policy_agent(
    request: pytest.FixtureRequest, ui_maps: OwnMaps
) -> Iterator[tuple[str, PhydevServer]]:
    require_kernel()
    flag: str = request.param
    server = _agent(*([flag] if flag else []), bpf_dir=ui_maps.bpf_dir)
    yield flag, server
    server.stop()


def test_pages_say_the_stats_mode_and_how_to_change_it(
    tab: Tab, policy_agent: tuple[str, PhydevServer], tmp_path: Path
) -> None:
    flag, agent = policy_agent
    badge, words, held = POLICIES[flag]
    open_ui(tab, agent, "")
    facts = tab.page.get_by_test_id("host")
    expect(facts.get_by_test_id("stats-policy")).to_have_text(badge)
    text = facts.get_by_test_id("stats-policy-text")
    for w in words:
        expect(text).to_contain_text(w)
    expect(text).to_contain_text("To change:")
    assert holds_stats_fd(agent.proc.pid) is held, "the overview is a look at rates"
    mode = facts.get_by_test_id("stats-mode").locator(".badge").first
    expect(mode).to_have_text(
        "ENABLE_STATS_FD" if held else re.compile("SYSCTL|ENABLE_STATS_FD|OFF")
    )

    open_ui(tab, agent, "programs")
    notice = tab.page.get_by_test_id("stats-notice")
    expect(notice).to_contain_text(f"Run statistics: {badge}")
    expect(notice).to_contain_text("To change:")
    if not held:
        # Rates may still be on through other holders (this session's fd, other tests):
        # the notice says "off" only when they really are; here it names the policy.
        expect(notice).to_contain_text("--no-enable-stats")
    tab.page.screenshot(path=str(tmp_path / f"stats-policy-{badge.replace(' ', '-')}.png"))
