"""The map entries page answering questions (issue 22 item 3), in Chromium: a BTF struct
per-CPU map shown through BTF by default, sorted by a field's per-CPU sum (the select and a
click on a column head), the top N, a key search, the total column; one field edited with a
typed input and read back from the kernel; a bad number refused in the page; an entry added
field by field. The screenshot goes to docs/ui/map-entry-views.png with
DEVAGENT_UPDATE_SCREENSHOTS=1, else to a temporary directory."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from devagent.bpf.maps import MapHandle
from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import open_ui
from tests.conftest import ROOT, BpffsMount, PhydevServer, build_bpf, load_object, require_kernel

NAMES = ["bash", "sshd", "cron", "nginx", "zsh"]
UPDATE = os.environ.get("DEVAGENT_UPDATE_SCREENSHOTS") == "1"


@dataclass
class StructMap:
    map_id: int
    agent: PhydevServer


def fill(map_id: int) -> None:
    with MapHandle.open(map_id) as handle:
        for i, name in enumerate(NAMES):
            cells = b"".join(
                struct.pack("=QI6s", (i * 3 % 5) * 100 + c, 9000 - i * 10 - c, b"ui")
                .ljust(handle.slot_size, b"\0") for c in range(handle.ncpus)
            )  # fmt: skip
            handle.update(name.encode().ljust(12, b"\0"), cells)


@pytest.fixture(scope="module")
def struct_map(build_dir: Path) -> Iterator[StructMap]:
    """btf_types.bpf.o's pcpu_names (per-CPU hash, key char[12], value struct pcpu_val
    {__u64 packets; __u32 bytes; char last[6];}) in a private bpffs, under a writing agent."""
    require_kernel()
    mount = BpffsMount()
    try:
        obj = load_object(build_bpf("btf_types.bpf.o", build_dir), mount)
        map_id = obj.map_ids["pcpu_names"]
        fill(map_id)
        agent = PhydevServer("--allow-writes", bpf_dir=str(mount.path))
        try:
            agent.wait_ready()
            yield StructMap(map_id, agent)
        finally:
            agent.stop()
    finally:
        mount.close()


def kernel(map_id: int) -> dict[str, list[tuple[int, int]]]:
    """name -> [(packets, bytes) per CPU], from the kernel."""
    with MapHandle.open(map_id, read_only=True) as handle:
        dump = handle.read_all()
        return {dump.key(i).rstrip(b"\0").decode(): [struct.unpack_from("=QI", v)
                for v in dump.cpu_values(i)] for i in range(dump.count)}  # fmt: skip


def shown_keys(tab: Tab) -> list[str]:
    return [k.strip() for k in tab.page.locator('[data-testid="entries"] tbody tr[data-key] '
                                                "td:nth-child(2)").all_inner_texts()]  # fmt: skip


def test_sort_top_search_and_totals(tab: Tab, struct_map: StructMap, tmp_path: Path) -> None:
    page = tab.page
    cells = kernel(struct_map.map_id)
    open_ui(tab, struct_map.agent, f"maps/{struct_map.map_id}")
    expect(page.get_by_label("key format")).to_have_value("BTF")  # BTF by default
    expect(page.get_by_label("value format")).to_have_value("BTF")
    page.get_by_label("sort by").select_option("packets")
    by_packets = sorted(cells, key=lambda n: (-sum(p for p, _ in cells[n]), n.encode()))
    expect(page.locator('[data-testid="entries"] tbody tr[data-key]')).to_have_count(len(NAMES))
    page.wait_for_function("() => location.search.includes('sort=packets')")
    expect(page.locator('[data-testid="entries"] tbody tr[data-key] td:nth-child(2)').first
           ).to_have_text(f'"{by_packets[0]}"')  # fmt: skip
    assert shown_keys(tab) == [f'"{n}"' for n in by_packets]
    total = page.locator('[data-testid="entries"] thead th', has_text="total")
    expect(total).to_be_visible()
    first_total = (
        page.locator('[data-testid="entries"] tbody tr[data-key]')
        .first.locator("td")
        .nth(2 + len(cells[by_packets[0]]))
    )
    packets = sum(p for p, _ in cells[by_packets[0]])
    assert f'"packets":{packets}' in first_total.inner_text()
    page.get_by_label("top N").fill("2")
    page.get_by_label("top N").press("Enter")
    page.wait_for_function("() => location.search.includes('top=2')")
    expect(page.locator('[data-testid="entries"] tbody tr[data-key]')).to_have_count(2)
    assert shown_keys(tab) == [f'"{n}"' for n in by_packets[:2]]
    page.get_by_label("order").select_option("asc")
    page.wait_for_function("() => location.search.includes('dir=asc')")
    expect(page.locator('[data-testid="entries"] tbody tr[data-key] td:nth-child(2)').first
           ).to_have_text(f'"{by_packets[1]}"')  # fmt: skip
    shot = (ROOT / "docs" / "ui" if UPDATE else tmp_path) / "map-entry-views.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("search keys").fill("SH")
    page.get_by_role("button", name="Search").click()
    page.wait_for_function("() => location.search.includes('q=SH')")
    expect(page.locator('[data-testid="entries"] tbody tr[data-key]')).to_have_count(3)
    assert sorted(shown_keys(tab)) == ['"bash"', '"sshd"', '"zsh"']  # any case


def test_edit_one_field_and_add_by_fields(tab: Tab, struct_map: StructMap) -> None:
    page = tab.page
    map_id = struct_map.map_id
    before = kernel(map_id)
    open_ui(tab, struct_map.agent, f"maps/{map_id}")
    row = page.locator(
        f'[data-testid="entries"] tr[data-key="{b"cron".ljust(12, bytes(1)).hex()}"]'
    )
    row.get_by_role("button", name="Edit").click()
    editor = page.get_by_test_id("field-edit")
    expect(editor).to_be_visible()
    bytes_cpu1 = editor.get_by_label("CPU 1 bytes")
    expect(bytes_cpu1).to_have_value(str(before["cron"][1][1]))
    bytes_cpu1.fill("-5")  # refused in the page: __u32 holds 0 to 4294967295
    expect(editor.get_by_role("alert")).to_contain_text("out of range for __u32")
    row.get_by_role("button", name="Save").click()
    expect(row.get_by_role("alert")).to_contain_text("out of range")
    assert kernel(map_id) == before
    bytes_cpu1.fill("4242")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("field-edit")).to_have_count(0)
    after = kernel(map_id)["cron"]
    assert after[1] == (before["cron"][1][0], 4242)  # one field of one CPU, read back
    assert after[0] == before["cron"][0]
    expect(row.locator("td").nth(3)).to_contain_text('"bytes":4242')
    # Add an entry field by field: the key in hex (a char[12] key), packets on CPU 0 only.
    form = page.get_by_test_id("create-form")
    form.get_by_label("new key").fill(b"ui-new".hex())
    form.get_by_label("new CPU 0 packets").fill("77")
    form.get_by_role("button", name="Add").click()
    expect(page.locator(f'tr[data-key="{b"ui-new".ljust(12, bytes(1)).hex()}"]')).to_have_count(1)
    added = kernel(map_id)["ui-new"]
    assert added[0] == (77, 0) and all(cpu == (0, 0) for cpu in added[1:])
    with MapHandle.open(map_id) as handle:  # as it was, for the other test
        handle.delete(b"ui-new".ljust(12, b"\0"))
    fill(map_id)
