"""The program page in a real browser shows every attachment (issue 22 item 1): XDP through
`ip link`, tc filters and a cgroup BPF_PROG_ATTACH (tests/attach_objects.py), none of which
made a bpf link, at a desktop and a phone size. With DEVAGENT_UPDATE_SCREENSHOTS=1 the
desktop one is kept as docs/ui/program-attachments.png."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.attach_objects import NoLinkAttachments, attached_without_links
from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import field, open_ui, table_rows
from tests.conftest import ROOT, PhydevServer, require_kernel

UPDATE = os.environ.get("DEVAGENT_UPDATE_SCREENSHOTS") == "1"


@pytest.fixture(scope="module")
def no_links(build_dir: Path) -> Iterator[NoLinkAttachments]:
    require_kernel()
    with attached_without_links(build_dir, "b") as made:
        yield made


@pytest.mark.parametrize("size", [(1400, 900), (390, 844)], ids=["desktop", "phone"])
def test_program_page_lists_attachments_without_links(
    tab: Tab, ro_agent: PhydevServer, no_links: NoLinkAttachments, tmp_path: Path,
    size: tuple[int, int],
) -> None:  # fmt: skip
    page = tab.page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    ifname, cg = no_links.ifname, no_links.cgroup_path
    open_ui(tab, ro_agent, f"programs/{no_links.tc_id}")
    assert field(tab, "attachPoint") == f"tc ingress {ifname} (+1)"
    assert table_rows(tab, "program-attachments") == {
        "0": [f"{ifname} tc ingress", "tc", "", "netlink"],
        "1": [f"{ifname} tc egress", "tc", "", "netlink"],
    }
    expect(page.get_by_test_id("no-attachments")).to_have_count(0)
    if size[0] == 1400:
        out = ROOT / "docs" / "ui" if UPDATE else tmp_path
        target = out / "program-attachments.png"
        page.get_by_test_id("program-attachments").scroll_into_view_if_needed()
        page.screenshot(path=str(target))
        data = target.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (1400, 900)
    open_ui(tab, ro_agent, f"programs/{no_links.xdp_id}")
    assert table_rows(tab, "program-attachments") == {
        "0": [f"{ifname} xdpgeneric", "xdp", "xdp", "netlink"]
    }
    open_ui(tab, ro_agent, f"programs/{no_links.cgroup_prog_id}")
    assert field(tab, "attachPoint") == f"cgroup cgroup_inet_ingress {cg}"
    assert table_rows(tab, "program-attachments") == {
        "0": [f"{cg} cgroup_inet_ingress", "cgroup", "cgroup_inet_ingress", "cgroup"]
    }
