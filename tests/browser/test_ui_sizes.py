"""Every page of the web UI at real sizes: a 1400x900 window and a phone (390x844), on a
host crowded with 5000 more programs and 5000 more maps (tests/e2e/test_query_cost.py's
crowd, made once for this module, with one agent). Each page loads without a console
error, shows its main content, lets the reader scroll to its table's last row (the long
lists render only the rows in view: the last one must appear, in the window, once the page
or the table's own box is scrolled to its end), and on the phone never makes the page wider
than the screen (tables scroll sideways inside their own box).

The graph draws where programs are attached, and the nav marks the graph's own section."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.attach_objects import attached_to_perf_event, attached_without_links
from tests.browser.conftest import Tab
from tests.browser.test_ui_pages import open_ui
from tests.conftest import FrozenCounters, LinkFixture, PhydevServer, bpftool_json
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_query_cost import CROWD, Crowd, made_crowd

SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
# Scroll the window and every box that scrolls in main to its end (as a reader would with
# the scrollbar, the wheel or a finger: the long lists are the last thing on their pages).
SCROLL_TO_END = """() => {
  window.scrollTo(0, document.documentElement.scrollHeight);
  for (const el of document.querySelectorAll('main *')) {
    if (el.scrollHeight > el.clientHeight + 1 && getComputedStyle(el).overflowY !== 'visible') {
      el.scrollTop = el.scrollHeight;
    }
  }
  return window.scrollY;
}"""
PAGE_WIDTH = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"


@dataclass
class CrowdAgent:
    server: PhydevServer
    crowd: Crowd


@pytest.fixture(scope="module")
def crowd_agent(
    ui_maps: OwnMaps, link_fixture: LinkFixture, frozen_counters: FrozenCounters
) -> Iterator[CrowdAgent]:
    """One agent on a host with CROWD more programs and maps (this module's own), besides
    the session's fixtures (links, a BTF-typed program and maps)."""
    started = time.monotonic()
    with made_crowd() as crowd:
        server = PhydevServer(bpf_dir=ui_maps.bpf_dir)
        try:
            server.wait_ready(path="/healthz")
            yield CrowdAgent(server, crowd)
        finally:
            server.stop()
    print(f"crowd agent: {time.monotonic() - started:.1f} s")


def pages(agent: CrowdAgent, frozen: FrozenCounters) -> dict[str, tuple[str, str]]:
    """name -> (path under /ui/, the test id of what must show)."""
    pid = agent.crowd.program_ids[0]
    fid = frozen.obj.prog_ids["count_packets"]
    return {
        "overview": ("", "host"),
        "programs": ("programs", "programs"),
        "program": (f"programs/{fid}", "chart-events"),
        "instructions": (f"programs/{fid}?insns=xlated", "instructions"),
        "maps": ("maps", "maps"),
        "map": (f"maps/{frozen.at_map_id}", "entries"),
        "entries": (f"maps/{agent.crowd.map_id}?kf=NUMBER&vf=NUMBER", "entries"),
        "links": ("links", "links"),
        "graph": (f"graph/program/{pid}", "graph"),
    }


def last_row(tab: Tab, testid: str) -> str:
    """A selector of the last row of the page's table `testid`: by aria-rowindex in a long
    list (rows out of view are not in the DOM), else the last one in the DOM."""
    table = tab.page.get_by_test_id(testid)
    count = table.get_attribute("aria-rowcount")
    if count is not None:
        assert int(count) > 1, "an empty list"
        return f'[data-testid="{testid}"] [aria-rowindex="{count}"]'
    rows = table.locator("[data-key], tbody tr")
    assert rows.count() > 0, f"{testid} has no rows"
    return f'[data-testid="{testid}"] :is([data-key], tbody tr) >> nth={rows.count() - 1}'


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ["overview", "programs", "program", "instructions", "maps",
                                  "map", "entries", "links", "graph"])  # fmt: skip
def test_page_at_real_size(
    tab: Tab, crowd_agent: CrowdAgent, frozen_counters: FrozenCounters, name: str, size: str
) -> None:
    width, height = SIZES[size]
    page = tab.page
    page.set_viewport_size({"width": width, "height": height})
    path, testid = pages(crowd_agent, frozen_counters)[name]
    open_ui(tab, crowd_agent.server, path)
    main = page.get_by_test_id(testid)
    expect(main).to_be_visible(timeout=15_000)
    if name == "graph":
        expect(main).to_have_attribute("data-ready", "yes")
    if name in ("programs", "maps"):
        count = page.get_by_test_id("count")
        expect(count).to_contain_text(re.compile(r"of ([5-9]\d{3}|\d{5,}) "))
    if name in ("overview", "programs", "instructions", "maps", "map", "entries", "links"):
        table = {"overview": "top-programs", "map": "entries"}.get(name, testid)
        expect(page.get_by_test_id(table)).to_be_visible()
        row = last_row(tab, table)
        if "aria-rowindex" in row:  # a long list: its last row exists once scrolled to
            page.evaluate(SCROLL_TO_END)
        else:
            page.locator(row).scroll_into_view_if_needed()
        expect(page.locator(row)).to_be_in_viewport()
    scroll_width, client_width = page.evaluate(PAGE_WIDTH)
    if size == "phone":
        assert scroll_width <= client_width, f"{name}: the page is {scroll_width} px wide"
    if size == "phone" and name in ("programs", "maps"):
        # The table is a box of its own, with scrollbars one can see (and grab) both ways.
        bars = page.get_by_test_id(testid).evaluate(
            "b => [b.offsetWidth - b.clientWidth, b.offsetHeight - b.clientHeight]"
        )
        assert bars[0] > 0 and bars[1] > 0, bars


def test_long_list_scrolls_with_the_page_and_keeps_its_header(
    tab: Tab, crowd_agent: CrowdAgent
) -> None:
    """At 1400x900 the programs table is as tall as its rows (the page scrolls, not a
    box), renders only the rows in view, and its header stays at the window's top."""
    page = tab.page
    page.set_viewport_size({"width": 1400, "height": 900})
    open_ui(tab, crowd_agent.server, "programs?sort=id")
    table = page.get_by_test_id("programs")
    rows = int(table.get_attribute("aria-rowcount") or 0) - 1
    assert rows >= CROWD
    assert page.evaluate("document.documentElement.scrollHeight") > rows * 28
    rendered = table.locator("[data-key]").count()
    assert 900 // 28 <= rendered <= 900 // 28 + 2 * 8 + 2  # only what is in view
    for _ in range(10):  # the wheel scrolls the page, not a box
        page.mouse.wheel(0, 5000)
    page.wait_for_function("() => window.scrollY >= 49000")
    top = page.evaluate("document.querySelector('[data-testid=programs] .vt-body')"
                        ".getBoundingClientRect().top")  # fmt: skip
    in_view = int(-top // 28) + 2  # the aria-rowindex of the row at the window's top
    expect(table.locator(f'[aria-rowindex="{in_view}"]')).to_be_in_viewport()
    head = table.locator(".vt-head").bounding_box()
    assert head is not None and abs(head["y"]) < 1  # stuck to the top
    ids = [int(k) for k in page.evaluate(
        "[...document.querySelectorAll('[data-testid=programs] [data-key]')]"
        ".map(e => e.dataset.key)")]  # fmt: skip
    assert ids == sorted(ids) and len(ids) == table.locator("[data-key]").count()


def graph_edges(tab: Tab, agent: CrowdAgent, path: str) -> list[list[str]]:
    """[source, target] of every edge the graph of `path` draws."""
    open_ui(tab, agent.server, path)
    expect(tab.page.get_by_test_id("graph")).to_have_attribute("data-ready", "yes")
    edges: list[list[str]] = tab.page.evaluate(
        "document.querySelector('[data-testid=graph]').cy.edges()"
        ".map(e => [e.source().id(), e.target().id()])"
    )
    return edges


def test_graph_draws_attach_points_and_marks_its_section(
    tab: Tab, crowd_agent: CrowdAgent, link_fixture: LinkFixture
) -> None:
    """The fixture's XDP link's interface and cgroup link's cgroup are nodes, joined to
    their programs through the links; on a program's graph the nav marks Programs, on a
    link's Links, on a map's Maps."""
    links = {lk["id"]: lk for lk in bpftool_json("link", "show")}  # type: ignore[union-attr]
    xdp, cg = link_fixture.xdp_link_id, link_fixture.cgroup_link_id
    xdp_prog, cg_prog = links[xdp]["prog_id"], links[cg]["prog_id"]
    page = tab.page
    edges = graph_edges(tab, crowd_agent, f"graph/program/{xdp_prog}")
    assert [f"interface:{link_fixture.devname}", f"link:{xdp}"] in edges
    assert [f"link:{xdp}", f"program:{xdp_prog}"] in edges
    expect(page.get_by_test_id("attach-point").first).to_contain_text(link_fixture.devname)
    active = page.locator("header.top nav a.active")
    expect(active).to_have_count(1)
    expect(active).to_have_text("Programs")
    edges = graph_edges(tab, crowd_agent, f"graph/link/{cg}")
    assert [f"cgroup:{link_fixture.cgroup_path}", f"link:{cg}"] in edges
    assert [f"link:{cg}", f"program:{cg_prog}"] in edges
    expect(active).to_have_text("Links")
    graph_edges(tab, crowd_agent, f"graph/map/{crowd_agent.crowd.map_id}")
    expect(active).to_have_text("Maps")


def test_map_page_names_btf_types(
    tab: Tab, crowd_agent: CrowdAgent, frozen_counters: FrozenCounters
) -> None:
    """flows (struct flow_key -> struct flow_stats in fixture.bpf.c): the map page names its
    key and value types, with ids that are those types in bpftool's dump of the map's BTF."""
    map_id = frozen_counters.obj.map_ids["flows"]
    shown = bpftool_json("map", "show", "id", str(map_id))
    assert isinstance(shown, dict)
    dump = bpftool_json("btf", "dump", "id", str(shown["btf_id"]))
    assert isinstance(dump, dict)
    kernel = {t["id"]: (t["kind"], t.get("name")) for t in dump["types"]}
    open_ui(tab, crowd_agent.server, f"maps/{map_id}")
    for field_id, struct in (("btfKeyType", "flow_key"), ("btfValueType", "flow_stats")):
        text = tab.page.locator(f'dd[data-field="{field_id}"]').inner_text()
        match = re.fullmatch(r"struct (\w+) \(BTF type (\d+)\)", text.strip())
        assert match, text
        assert match.group(1) == struct and kernel[int(match.group(2))] == ("STRUCT", struct)


def test_graph_draws_attachments_without_links(
    tab: Tab, crowd_agent: CrowdAgent, build_dir: Path
) -> None:
    """XDP and tc through netlink, a cgroup through BPF_PROG_ATTACH, a tracepoint through a
    perf event this process holds (tests/attach_objects.py): none made a bpf link, yet each
    program's graph joins it to its interface, cgroup or tracepoint, and the perf event's
    program to this process."""
    with attached_without_links(build_dir, "g") as made, attached_to_perf_event() as perf:
        time.sleep(1.1)  # the agent's snapshot may be up to 1 s old
        edges = graph_edges(tab, crowd_agent, f"graph/program/{made.xdp_id}")
        assert [f"interface:{made.ifname}", f"program:{made.xdp_id}"] in edges
        edges = graph_edges(tab, crowd_agent, f"graph/program/{made.tc_id}")
        assert [f"interface:{made.ifname}", f"program:{made.tc_id}"] in edges
        edges = graph_edges(tab, crowd_agent, f"graph/program/{made.cgroup_prog_id}")
        assert [f"cgroup:{made.cgroup_path}", f"program:{made.cgroup_prog_id}"] in edges
        edges = graph_edges(tab, crowd_agent, f"graph/program/{perf.prog_id}")
        assert [f"process:{perf.pid}", f"program:{perf.prog_id}"] in edges
        hooks = [s for s, t in edges if s.startswith("hook:") and t == f"program:{perf.prog_id}"]
        assert len(hooks) == 1 and perf.tracepoint in hooks[0], edges
