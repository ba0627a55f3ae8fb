"""Every /ui/ route in a real browser: it loads (directly, as a deep link) with no console
error and no request leaving 127.0.0.1, and the numbers and entries it shows are the kernel's,
read with bpftool, for fixture objects nothing else changes."""

from __future__ import annotations

import json
import os
import re
import socket
from collections import deque

from playwright.sync_api import expect

from tests.browser.conftest import Tab
from tests.conftest import (
    FrozenCounters,
    LinkFixture,
    PhydevServer,
    StatsHold,
    bpftool_json,
    kernel_map_entries,
    run_phydev,
)
from tests.e2e.conftest import HASH_ENTRIES, OwnMaps


def open_ui(tab: Tab, agent: PhydevServer, path: str) -> None:
    """Load /ui/<path> as a deep link and wait until the page has shown its data."""
    tab.page.goto(f"{agent.url}/ui/{path}")
    expect(tab.page.locator("main")).not_to_contain_text("Loading", timeout=15_000)


def field(tab: Tab, name: str) -> str:
    return tab.page.locator(f'dd[data-field="{name}"]').inner_text().strip()


def table_rows(tab: Tab, testid: str) -> dict[str, list[str]]:
    """data-key -> the texts of its cells, for the rows of a table."""
    rows = tab.page.locator(f'[data-testid="{testid}"] [data-key]')
    return {
        row.get_attribute("data-key") or "": [c.strip() for c in row.locator("td, [role=cell]")
                                              .all_inner_texts()]
        for row in rows.all()
    }  # fmt: skip


def frozen_program(frozen: FrozenCounters) -> tuple[int, dict[str, object]]:
    """The frozen copy's count_packets (its counters no longer move) and bpftool's view of it."""
    pid = frozen.obj.prog_ids["count_packets"]
    kernel = bpftool_json("prog", "show", "id", str(pid))
    assert isinstance(kernel, dict)
    return pid, kernel


def test_overview_shows_this_host(tab: Tab, ro_agent: PhydevServer) -> None:
    open_ui(tab, ro_agent, "")
    assert field(tab, "hostname") == socket.gethostname()
    assert field(tab, "kernelRelease") == os.uname().release
    assert field(tab, "cpuCount") == str(os.cpu_count())
    assert field(tab, "statsMode").split()[0] in ("SYSCTL", "ENABLE_STATS_FD", "OFF")
    expect(tab.page.get_by_role("heading", name="Top programs by CPU")).to_be_visible()
    expect(tab.page.get_by_role("heading", name=re.compile("Fullest maps"))).to_be_visible()


def test_overview_shows_what_the_kernel_lacks(
    tab: Tab, ro_agent: PhydevServer, ui_maps: OwnMaps
) -> None:
    """The kernel features card lists every row the agent's probe did not find working, with
    its status and reason, as `phydev inspect features` prints them on this kernel (the
    agent's own iterators are loaded: those rows are left out of the comparison)."""
    cli_rows = run_phydev("inspect", "features", "--json", "--bpf_dir", ui_maps.bpf_dir).stdout
    every_row = json.loads(cli_rows)
    cli = [r for r in every_row if not r["name"].endswith("_iterator")]
    open_ui(tab, ro_agent, "")
    card = tab.page.get_by_test_id("kernel-features")
    expect(card.get_by_role("heading", name="Kernel features")).to_be_visible()
    counts = {s: sum(1 for r in every_row if r["status"] == s) for s in ("works", "degraded")}
    expect(card).to_contain_text(f"{counts['works']} work, {counts['degraded']} degraded")
    lacking = {r["name"]: r for r in cli if r["status"] != "works"}
    shown = table_rows(tab, "lacking-features")
    shown = {k: v for k, v in shown.items() if not k.endswith("_iterator")}
    assert set(shown) == set(lacking)
    for name, cells in shown.items():
        assert cells[1:] == [lacking[name]["status"], lacking[name]["since"] or "",
                             lacking[name]["detail"]]  # fmt: skip
    card.get_by_text("every feature").click()
    expect(card.get_by_test_id("every-feature").locator("[data-key]")).to_have_count(len(every_row))


def test_programs_table_filters_sorts_and_equals_the_kernel(
    tab: Tab, ro_agent: PhydevServer, stats_enabled: StatsHold, frozen_counters: FrozenCounters
) -> None:
    pid, kernel = frozen_program(frozen_counters)
    open_ui(tab, ro_agent, "programs")
    page = tab.page
    page.get_by_label("filter programs").fill(str(pid))
    expect(page).to_have_url(re.compile(rf"[?&]q={pid}"))
    row = page.locator(f'[data-testid="programs"] [data-key="{pid}"]')
    expect(row).to_be_visible()
    assert row.locator('[data-col="runCount"]').inner_text() == f"{kernel.get('run_cnt', 0):,}"
    assert row.locator('[data-col="tag"]').inner_text() == kernel["tag"]
    assert row.locator('[data-col="type"]').inner_text() == "SocketFilter"
    page.get_by_label("filter programs").fill("")
    page.get_by_role("button", name="ID").click()  # first click: descending
    expect(page).to_have_url(re.compile(r"sort=id"))
    keys = [int(k) for k in table_rows(tab, "programs")]
    assert keys == sorted(keys, reverse=True) and len(keys) > 3
    page.get_by_role("button", name="ID ▼").click()
    expect(page.get_by_role("button", name="ID ▲")).to_be_visible()
    keys = [int(k) for k in table_rows(tab, "programs")]
    assert keys == sorted(keys)


def test_program_page_equals_the_kernel(
    tab: Tab, ro_agent: PhydevServer, stats_enabled: StatsHold, frozen_counters: FrozenCounters
) -> None:
    pid, kernel = frozen_program(frozen_counters)
    open_ui(tab, ro_agent, f"programs/{pid}")
    assert field(tab, "runCount") == f"{kernel.get('run_cnt', 0):,}"
    assert field(tab, "runTime").startswith(f"{kernel.get('run_time_ns', 0):,} ns")
    assert field(tab, "tag") == kernel["tag"]
    assert field(tab, "xlatedSize") == f"{kernel['bytes_xlated']:,} bytes"
    assert field(tab, "jitedSize") == f"{kernel['bytes_jited']:,} bytes"
    assert field(tab, "uid") == str(kernel["uid"])
    assert field(tab, "gpl") == ("yes" if kernel["gpl_compatible"] else "no")
    assert {int(k) for k in table_rows(tab, "program-maps")} == set(kernel["map_ids"])
    expect(tab.page.get_by_test_id("chart-events")).to_be_visible()


def test_maps_table_fill_equals_the_kernel(
    tab: Tab, ro_agent: PhydevServer, ui_maps: OwnMaps
) -> None:
    map_id = ui_maps.id("t_hash")
    used = len(kernel_map_entries(map_id))
    assert used == HASH_ENTRIES
    open_ui(tab, ro_agent, f"maps?q={map_id}")
    row = tab.page.locator(f'[data-testid="maps"] [data-key="{map_id}"]')
    expect(row).to_be_visible()
    # The fill numbers join the list when the server has counted them.
    expect(row.locator('[data-col="entries"]')).to_have_text(f"{used} / 64")
    expect(row.locator('[data-col="fill"]')).to_have_text(f"{used / 64 * 100:.1f}%")
    assert row.locator('[data-col="type"]').inner_text() == "Hash"


def test_per_cpu_entries_equal_the_kernel(
    tab: Tab, ro_agent: PhydevServer, frozen_counters: FrozenCounters
) -> None:
    """AT_pkts: string keys, one NUMBER column per possible CPU, as bpftool reads them."""
    map_id = frozen_counters.at_map_id
    kernel = {k.rstrip(b"\0").decode(): [str(v) for v in vs]
              for k, vs in kernel_map_entries(map_id).items()}  # fmt: skip
    assert kernel
    open_ui(tab, ro_agent, f"maps/{map_id}?kf=STRING&vf=NUMBER&limit=100")
    expect(tab.page.get_by_label("key format")).to_have_value("STRING")
    rows = table_rows(tab, "entries").values()
    shown = {cells[1]: cells[2:-2] for cells in rows}  # CPU columns, then the total
    assert shown == kernel
    assert {cells[1]: cells[-2] for cells in rows} == {
        k: str(sum(map(int, vs))) for k, vs in kernel.items()}  # fmt: skip
    headers = tab.page.locator('[data-testid="entries"] th').all_inner_texts()
    assert [h for h in headers if h.startswith("CPU")] == [
        f"CPU {i}" for i in range(len(next(iter(kernel.values()))))
    ]


def test_btf_entries_as_columns_and_tree_equal_bpftool(
    tab: Tab, ro_agent: PhydevServer, frozen_counters: FrozenCounters
) -> None:
    """flows: struct flow_stats values, decoded through BTF into one column per field, or as a
    tree; the numbers are what bpftool prints under "formatted"."""
    map_id = frozen_counters.obj.map_ids["flows"]
    dump = bpftool_json("map", "dump", "id", str(map_id))
    assert isinstance(dump, list) and dump
    kernel = {"".join(c.removeprefix("0x") for c in e["key"]): e["formatted"]["value"]
              for e in dump}  # fmt: skip
    open_ui(tab, ro_agent, f"maps/{map_id}?vf=BTF&limit=100")
    headers = tab.page.locator('[data-testid="entries"] th').all_inner_texts()
    col = {h.strip(): i for i, h in enumerate(headers)}
    assert "packets" in col and "bytes" in col
    rows = table_rows(tab, "entries")
    assert set(rows) == set(kernel)
    for key, cells in rows.items():
        assert cells[col["packets"]] == str(kernel[key]["packets"])
        assert cells[col["bytes"]] == str(kernel[key]["bytes"])
    tab.page.get_by_label("BTF view").select_option("tree")
    expect(tab.page.locator(".tree-key", has_text="packets").first).to_be_visible()


def test_entries_paging_and_jump_to_key(tab: Tab, ro_agent: PhydevServer, ui_maps: OwnMaps) -> None:
    map_id = ui_maps.id("t_hash")
    keys = sorted(k.hex() for k in kernel_map_entries(map_id))
    open_ui(tab, ro_agent, f"maps/{map_id}?limit=16")
    page = tab.page
    expect(page.get_by_test_id("entries-count")).to_have_text(str(len(keys)))
    assert list(table_rows(tab, "entries")) == keys[:16]
    page.get_by_role("button", name="last »").click()
    expect(page).to_have_url(re.compile(r"offset=32"))
    expect(page.locator('[data-testid="entries"] [data-key]')).to_have_count(len(keys) - 32)
    assert list(table_rows(tab, "entries")) == keys[32:]
    page.go_back()  # the browser's back button: previous page of entries
    expect(page.locator('[data-testid="entries"] [data-key]')).to_have_count(16)
    assert list(table_rows(tab, "entries")) == keys[:16]
    page.get_by_label("jump to key").fill(keys[21])
    page.get_by_role("button", name="Go").click()
    expect(page).to_have_url(re.compile(r"offset=16"))
    expect(page.locator("tr.highlight")).to_have_attribute("data-key", keys[21])
    page.get_by_label("jump to key").fill("ffffffff")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("alert")).to_contain_text(f"key ffffffff (HEX) is not in map {map_id}")


# The ids of the nodes Cytoscape drew (the graph page leaves its instance on the container).
NODE_IDS = "document.querySelector('[data-testid=graph]').cy.nodes().map(n => n.id())"


def _kernel_graph(prog_id: int) -> set[str]:
    """Nodes reachable from a program: its maps, the programs using those maps, ... (bpftool)."""
    progs = bpftool_json("prog", "show")
    assert isinstance(progs, list)
    uses = {p["id"]: set(p.get("map_ids", [])) for p in progs}
    seen = {f"program:{prog_id}"}
    todo = deque([("program", prog_id)])
    while todo:
        kind, oid = todo.popleft()
        nxt = ([("map", m) for m in uses.get(oid, ())] if kind == "program"
               else [("program", p) for p, ms in uses.items() if oid in ms])  # fmt: skip
        for k, i in nxt:
            if f"{k}:{i}" not in seen:
                seen.add(f"{k}:{i}")
                todo.append((k, i))
    return seen


def test_graph_is_the_kernels_and_clicks_through(
    tab: Tab, ro_agent: PhydevServer, frozen_counters: FrozenCounters
) -> None:
    pid = frozen_counters.obj.prog_ids["count_packets"]
    expected = _kernel_graph(pid)
    open_ui(tab, ro_agent, f"graph/program/{pid}")
    page = tab.page
    graph = page.get_by_test_id("graph")
    expect(graph).to_have_attribute("data-ready", "yes")
    nodes = page.evaluate(
        "document.querySelector('[data-testid=graph]').cy.nodes().map(n => n.id())"
    )
    # Objects (attach points aside: tests/browser/test_ui_sizes.py).
    assert {n for n in nodes if n.split(":")[0] in ("program", "map", "link")} == expected
    map_id = frozen_counters.at_map_id
    # A real click where Cytoscape drew the AT_pkts node.
    box = graph.bounding_box()
    assert box is not None
    x, y = page.evaluate(
        "id => { const p = document.querySelector('[data-testid=graph]').cy"
        ".getElementById(id).renderedPosition(); return [p.x, p.y]; }",
        f"map:{map_id}",
    )
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page).to_have_url(re.compile(rf"/ui/maps/{map_id}$"))
    expect(page.get_by_role("heading", name=re.compile(f"#{map_id}"))).to_be_visible()
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/ui/graph/program/{pid}$"))
    expect(page.get_by_test_id("graph")).to_have_attribute("data-ready", "yes")
    page.go_forward()
    expect(page).to_have_url(re.compile(rf"/ui/maps/{map_id}$"))


def test_links_page_and_link_graph(
    tab: Tab, ro_agent: PhydevServer, link_fixture: LinkFixture
) -> None:
    link = bpftool_json("link", "show", "id", str(link_fixture.xdp_link_id))
    assert isinstance(link, dict)
    open_ui(tab, ro_agent, "links")
    # The fixture may be younger than the agent's snapshot (kept up to 1 s); the page shows
    # the link by its next poll (every 5 s), as a user would see it appear.
    for key in (link_fixture.xdp_link_id, link_fixture.cgroup_link_id):
        row = tab.page.locator(f'[data-testid="links"] [data-key="{key}"]')
        expect(row).to_be_visible(timeout=15_000)
    rows = table_rows(tab, "links")
    xdp = rows[str(link_fixture.xdp_link_id)]
    # link, type, attach type (implied for XDP), program, where (in words, not JSON)
    assert xdp[1:3] == ["XDP", "xdp"] and xdp[4] == link_fixture.devname
    assert xdp[3].endswith(f"({link['prog_id']})")
    cgroup = rows[str(link_fixture.cgroup_link_id)]
    assert cgroup[1:3] == ["Cgroup", "cgroup_inet_ingress"]
    assert cgroup[4] == link_fixture.cgroup_path
    tab.page.locator(f'[data-key="{link_fixture.xdp_link_id}"]').get_by_role(
        "link", name="graph").click()  # fmt: skip
    expect(tab.page).to_have_url(re.compile(rf"/ui/graph/link/{link_fixture.xdp_link_id}$"))
    expect(tab.page.get_by_test_id("graph")).to_have_attribute("data-ready", "yes")
    nodes = tab.page.evaluate(NODE_IDS)
    assert f"link:{link_fixture.xdp_link_id}" in nodes and f"program:{link['prog_id']}" in nodes


def test_errors_are_shown_with_the_servers_text(tab: Tab, ro_agent: PhydevServer) -> None:
    open_ui(tab, ro_agent, "programs/2147483000")
    expect(tab.page.get_by_role("alert")).to_contain_text("2147483000")
    expect(tab.page.get_by_role("alert")).to_contain_text("not found")
    open_ui(tab, ro_agent, "no/such/page")
    expect(tab.page.get_by_role("alert")).to_contain_text("There is no page no/such/page")
