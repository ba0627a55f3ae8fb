"""Editing map entries in the browser: with --allow-writes every edit (update, per-CPU update,
create, delete, pin) reaches the kernel and the page shows what the kernel then holds; a
refused edit shows the server's reason and changes nothing; without --allow-writes the
controls are visibly read-only and say why."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from devagent.bpf.maps import possible_cpus
from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import open_ui
from tests.conftest import PhydevServer
from tests.e2e.conftest import OwnMaps


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def lookup(maps: OwnMaps, name: str, key: bytes) -> bytes | None:
    with maps.handle(name) as handle:
        return handle.lookup(key)


@pytest.fixture
def restored(ui_maps: OwnMaps) -> Iterator[OwnMaps]:
    """Put back t_hash and t_pcpu as they were: other browser tests compare them."""
    saved = {}
    for name in ("t_hash", "t_pcpu"):
        with ui_maps.handle(name) as handle:
            saved[name] = dict(handle.read_all().items())
    yield ui_maps
    for name, items in saved.items():
        with ui_maps.handle(name) as handle:
            for key, _ in list(handle.read_all().items()):
                if key not in items:
                    handle.delete(key)
            for key, value in items.items():
                handle.update(key, value)


def test_update_create_delete_round_trip(
    tab: Tab, rw_agent: PhydevServer, restored: OwnMaps
) -> None:
    maps = restored
    page = tab.page
    open_ui(tab, rw_agent, f"maps/{maps.id('t_hash')}?vf=NUMBER&limit=100")
    row = page.locator(f'[data-testid="entries"] tr[data-key="{u32(37).hex()}"]')
    assert row.locator("td").nth(2).inner_text() == "1"
    row.get_by_role("button", name="Edit").click()
    row.get_by_label("value value (NUMBER)").fill("4242")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("status")).to_contain_text("read again from the kernel")
    expect(row.locator("td").nth(2)).to_have_text("4242")
    assert lookup(maps, "t_hash", u32(37)) == u64(4242)

    page.get_by_label("new key").fill("ffff0000")
    page.get_by_label("new value").fill("77")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("entries-notice")).to_contain_text("created key ffff0000")
    assert lookup(maps, "t_hash", bytes.fromhex("ffff0000")) == u64(77)
    created = page.locator('[data-testid="entries"] tr[data-key="ffff0000"]')
    expect(created.locator("td").nth(2)).to_have_text("77")

    created.get_by_role("button", name="Delete").click()
    created.get_by_role("button", name="Delete for real").click()
    expect(page.get_by_test_id("entries-notice")).to_contain_text("deleted key ffff0000")
    expect(created).to_have_count(0)
    assert lookup(maps, "t_hash", bytes.fromhex("ffff0000")) is None


def test_per_cpu_update_changes_one_cpu(
    tab: Tab, rw_agent: PhydevServer, restored: OwnMaps
) -> None:
    maps = restored
    ncpus = possible_cpus()
    assert ncpus >= 2
    before = lookup(maps, "t_pcpu", u32(5))
    open_ui(tab, rw_agent, f"maps/{maps.id('t_pcpu')}?vf=NUMBER")
    row = tab.page.locator(f'[data-testid="entries"] tr[data-key="{u32(5).hex()}"]')
    row.get_by_role("button", name="Edit").click()
    row.get_by_label("value CPU 1 (NUMBER)").fill("999")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("status")).to_be_visible()
    expect(row.locator("td").nth(3)).to_have_text("999")
    after = lookup(maps, "t_pcpu", u32(5))
    assert before is not None and after is not None
    assert after[8:16] == u64(999)
    assert after[:8] == before[:8] and after[16:] == before[16:]


def test_refused_edit_shows_the_reason_and_changes_nothing(
    tab: Tab, rw_agent: PhydevServer, restored: OwnMaps
) -> None:
    maps = restored
    open_ui(tab, rw_agent, f"maps/{maps.id('t_hash')}?vf=NUMBER&limit=100")
    row = tab.page.locator(f'[data-testid="entries"] tr[data-key="{u32(74).hex()}"]')
    row.get_by_role("button", name="Edit").click()
    row.get_by_label("value value (NUMBER)").fill("twelve")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("alert")).to_contain_text("value 'twelve'")
    assert lookup(maps, "t_hash", u32(74)) == u64(2)
    # Still editing: nothing looks saved.
    expect(row.get_by_role("button", name="Save")).to_be_visible()


def test_pin_from_the_map_page(tab: Tab, rw_agent: PhydevServer, ui_maps: OwnMaps) -> None:
    target = os.path.join(ui_maps.bpf_dir, "ui_pinned")
    open_ui(tab, rw_agent, f"maps/{ui_maps.id('t_str')}")
    form = tab.page.get_by_test_id("pin-form")
    try:
        form.get_by_role("textbox").fill("ui_pinned")
        form.get_by_role("button", name="Pin").click()
        expect(form.get_by_role("status")).to_have_text("pinned at ui_pinned")
        assert os.path.exists(target)
        expect(tab.page.locator('dd[data-field="pins"]')).to_contain_text(target)
        form.get_by_role("textbox").fill("ui_pinned")
        form.get_by_role("button", name="Pin").click()
        expect(form.get_by_role("alert")).to_contain_text("already exists")
        form.get_by_role("textbox").fill("../escape")
        form.get_by_role("button", name="Pin").click()
        expect(form.get_by_role("alert")).to_contain_text("must not contain '..'")
    finally:
        if os.path.exists(target):
            os.unlink(target)


def test_read_only_agent_shows_controls_as_read_only(
    tab: Tab, ro_agent: PhydevServer, ui_maps: OwnMaps
) -> None:
    page = tab.page
    open_ui(tab, ro_agent, f"maps/{ui_maps.id('t_hash')}?vf=NUMBER")
    note = page.get_by_test_id("read-only").first
    expect(note).to_contain_text("writes are disabled")
    expect(note).to_contain_text("--allow-writes")
    edits = page.locator('[data-testid="entries"]').get_by_role("button", name="Edit")
    assert edits.count() > 0
    for button in edits.all():
        expect(button).to_be_disabled()
        assert "--allow-writes" in (button.get_attribute("title") or "")
    expect(page.get_by_test_id("pin-form").get_by_role("button", name="Pin")).to_be_disabled()
    expect(page.get_by_test_id("create-form")).to_have_count(0)
