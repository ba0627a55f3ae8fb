"""The agent's own objects (bpf.agent_objects): the iterator programs, links and map that a
server or `phydev top` loads are marked in GraphQL, the CLI's JSON and the metrics, and left
out by default of the CLI listings and `top`, against a real server and real impostors: a
socket filter and a whole iterator named like the agent's, loaded by this test process
(not a phydev process), which must never be taken for the agent's."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devagent.bpf.agent_objects import CPUS_MAP_NAME, PROGRAM_NAMES, WALK_PROGRAM_NAME
from devagent.bpf.handles import Fd
from devagent.bpf.iter.walkers import Walkers
from devagent.bpf.objects import program_info
from devagent.bpf.progs import load_program, return_imm
from tests.conftest import PacketFixture, PhydevServer, require_kernel, run_phydev

SOCKET_FILTER = 1
EVERYTHING = """{
  programs { id name agentOwn owners { pid } }
  maps { id name agentOwn owners { pid } }
  links { id agentOwn program { id } owners { pid } }
}"""


@dataclass
class Impostors:
    """Objects named like the agent's, held by this (non-phydev) process."""

    socket_filter: int  # a SocketFilter program named phydev_walk
    programs: frozenset[int]  # a real iterator pair (Tracing, phydev_walk / phydev_maps)
    maps: frozenset[int]  # its phydev_cpus
    links: frozenset[int]

    @property
    def program_ids(self) -> set[int]:
        return {self.socket_filter, *self.programs}


@pytest.fixture(scope="module")
def impostors() -> Iterator[Impostors]:
    require_kernel()
    fd: Fd = load_program(SOCKET_FILTER, return_imm(0), name=WALK_PROGRAM_NAME)
    iterators = Walkers()  # this test process's own, not the server's
    iterators.start()
    try:
        ids = iterators.own_ids()
        if len(ids.programs) < 2:
            pytest.skip(f"the iterators cannot be loaded here: {iterators.problems}")
        yield Impostors(program_info(fd).id, ids.programs, ids.maps, ids.links)
    finally:
        iterators.close()
        fd.close()


@dataclass
class ServerOwn:
    """The objects a server holds that are named like the iterators: its own."""

    programs: set[int]
    maps: set[int]
    links: set[int]


def query(server: PhydevServer, text: str) -> dict[str, Any]:
    import urllib.request

    body = json.dumps({"query": text}).encode()
    req = urllib.request.Request(server.url + "/query", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.loads(resp.read())
    assert "errors" not in answer, answer
    return dict(answer["data"])


def held_by(obj: dict[str, Any], pid: int) -> bool:
    return any(o["pid"] == pid for o in obj["owners"])


def everything(server: PhydevServer, impostors: Impostors) -> dict[str, Any]:
    """Every object, once the server's snapshot (kept up to 1 s) has the impostors."""
    deadline = time.monotonic() + 10
    while True:
        data = query(server, EVERYTHING)
        if impostors.program_ids <= {p["id"] for p in data["programs"]}:
            return data
        assert time.monotonic() < deadline, "the impostors never showed"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server_own(own_agent: PhydevServer, impostors: Impostors) -> ServerOwn:
    """The server's iterators (loaded on a thread of their own as it starts)."""
    pid = own_agent.proc.pid
    deadline = time.monotonic() + 10
    while True:
        data = everything(own_agent, impostors)
        own = ServerOwn(
            {p["id"] for p in data["programs"] if held_by(p, pid) and p["name"] in PROGRAM_NAMES},
            {m["id"] for m in data["maps"] if held_by(m, pid) and m["name"] == CPUS_MAP_NAME},
            {li["id"] for li in data["links"] if held_by(li, pid)},
        )
        if len(own.programs) == 2 and len(own.maps) == 1 and len(own.links) == 2:
            return own
        assert time.monotonic() < deadline, own
        time.sleep(0.2)


def test_graphql_marks_the_servers_own_and_not_the_impostors(
    own_agent: PhydevServer,
    impostors: Impostors,
    server_own: ServerOwn,
    packet_fixture: PacketFixture,
) -> None:
    data = everything(own_agent, impostors)
    programs = {p["id"]: p["agentOwn"] for p in data["programs"]}
    maps = {m["id"]: m["agentOwn"] for m in data["maps"]}
    links = {li["id"]: li["agentOwn"] for li in data["links"]}
    assert all(programs[i] for i in server_own.programs)
    assert all(maps[i] for i in server_own.maps)
    assert all(links[i] for i in server_own.links)
    assert not any(programs[i] for i in impostors.program_ids)
    assert not any(maps[i] for i in impostors.maps)
    assert not any(links[i] for i in impostors.links)
    assert programs[packet_fixture.obj.prog_ids["count_packets"]] is False

    # By default every object is listed (the Go agent's clients expect them all);
    # includeAgentOwn: false leaves the agent's out, and null lists every one.
    users = query(own_agent, "{ programs(includeAgentOwn: false) { id agentOwn } "
                             "maps(includeAgentOwn: false) { id agentOwn } "
                             "links(includeAgentOwn: false) { id agentOwn } }")  # fmt: skip
    assert not any(x["agentOwn"] for kind in users.values() for x in kind)
    assert not server_own.programs & {p["id"] for p in users["programs"]}
    assert not server_own.maps & {m["id"] for m in users["maps"]}
    assert not server_own.links & {li["id"] for li in users["links"]}
    assert impostors.program_ids <= {p["id"] for p in users["programs"]}
    assert impostors.maps <= {m["id"] for m in users["maps"]}
    every = query(own_agent, "{ programs(includeAgentOwn: null) { id } }")["programs"]
    assert server_own.programs <= {p["id"] for p in every}
    one = query(own_agent, f"{{ program(id: {min(server_own.programs)}) {{ agentOwn }} }}")
    assert one["program"]["agentOwn"] is True


def test_metrics_name_the_agents_own_in_an_info_family(
    own_agent: PhydevServer, impostors: Impostors, server_own: ServerOwn
) -> None:
    body, _ = own_agent.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    info = families["devagent_ebpf_agent_object_info"]  # (the text format's name)
    marked = {(s.labels["kind"], int(s.labels["id"])) for s in info.samples}
    assert {("program", i) for i in server_own.programs} <= marked
    assert {("map", i) for i in server_own.maps} <= marked
    assert not {("program", i) for i in impostors.program_ids} & marked
    assert not {("map", i) for i in impostors.maps} & marked
    # The contract's gauges keep their label sets exactly, and still list every program.
    run_count = families["devagent_ebpf_prog_run_count"]
    assert {frozenset(s.labels) for s in run_count.samples} == {
        frozenset({"id", "type", "tag", "name"})
    }
    assert server_own.programs <= {int(s.labels["id"]) for s in run_count.samples}


@pytest.mark.parametrize("kind", ["progs", "maps", "links"])
def test_cli_listings_hide_the_agents_own_unless_asked(
    kind: str, own_agent: PhydevServer, impostors: Impostors, server_own: ServerOwn
) -> None:
    """The listing process loads no iterator of its own; the server's are another phydev
    process's, found through /proc."""
    theirs = {"progs": server_own.programs, "maps": server_own.maps, "links": server_own.links}
    fakes = {"progs": impostors.program_ids, "maps": impostors.maps, "links": impostors.links}
    hidden = {r["id"]: r for r in json.loads(run_phydev("inspect", kind, "list", "--json").stdout)}
    assert not theirs[kind] & hidden.keys()
    assert fakes[kind] <= hidden.keys()
    assert not any(r["agentOwn"] for r in hidden.values() if "error" not in r)
    shown = run_phydev("inspect", kind, "list", "--json", "--show-agent").stdout
    every = {r["id"]: r for r in json.loads(shown)}
    assert all(every[i]["agentOwn"] is True for i in theirs[kind])
    assert all(every[i]["agentOwn"] is False for i in fakes[kind])
    # The contract's text table: the same rows, no new column.
    text_ids = {int(line.split("\t")[0]) for line in
                run_phydev("inspect", kind, "list").stdout.splitlines()[1:]}  # fmt: skip
    assert not theirs[kind] & text_ids and fakes[kind] <= text_ids
    text = run_phydev("inspect", kind, "list", "--show-agent").stdout.splitlines()
    assert theirs[kind] <= {int(line.split("\t")[0]) for line in text[1:]}
    # The click command (`python -m devagent` always takes it, not the quick path) says the
    # same; that process is a phydev process too, holding no iterator.
    click_path = [sys.executable, "-m", "devagent", "inspect", kind, "list", "--json"]
    clicked = subprocess.run(click_path, capture_output=True, text=True, check=True).stdout
    assert not theirs[kind] & {r["id"] for r in json.loads(clicked)}
    assert fakes[kind] <= {r["id"] for r in json.loads(clicked)}


def top_programs(*args: str) -> dict[int, dict[str, Any]]:
    out = run_phydev("top", "--json", "--interval", "0.3", "--count", "1", *args).stdout
    (frame,) = [json.loads(line) for line in out.splitlines()]
    return {p["id"]: p for p in frame["programs"]}


def test_top_hides_its_own_and_the_servers_unless_asked(
    own_agent: PhydevServer, impostors: Impostors, server_own: ServerOwn
) -> None:
    """`top` loads iterators of its own: they, and the server's, are hidden by default."""
    rows = top_programs()
    assert not server_own.programs & rows.keys()
    named = {i for i, p in rows.items() if p["name"] in PROGRAM_NAMES}
    assert named <= impostors.program_ids, "an agent's iterator was listed"
    assert impostors.program_ids <= rows.keys()
    assert not any(p["agentOwn"] for p in rows.values())

    every = top_programs("--show-agent")
    assert all(every[i]["agentOwn"] for i in server_own.programs)
    assert all(not every[i]["agentOwn"] for i in impostors.program_ids)
    # top's own pair: agent's, named like the iterators, neither the server's nor fakes
    others = {i for i, p in every.items() if p["agentOwn"]} - server_own.programs
    assert {every[i]["name"] for i in others} == PROGRAM_NAMES

    remote = top_programs("--agent", own_agent.url)
    assert not server_own.programs & remote.keys()
    assert impostors.program_ids <= remote.keys()
    remote_every = top_programs("--agent", own_agent.url, "--show-agent")
    assert all(remote_every[i]["agentOwn"] for i in server_own.programs)


def test_the_full_screen_view_toggles_the_agents_own_with_a(
    own_agent: PhydevServer, impostors: Impostors, server_own: ServerOwn
) -> None:
    """Textual's pilot on this host's kernel: the server's iterators are hidden, the status
    line says how many, and `a` shows them (and hides them again)."""
    import asyncio

    from textual.widgets import DataTable, Static

    from devagent.cli.top.app import TopApp
    from devagent.cli.top.local import LocalSource

    source = LocalSource(interval=0.3)
    app = TopApp(source, interval=0.3)

    def shown() -> set[int]:
        return {int(str(key.value)) for key in app.query_one(DataTable).rows}

    async def until(check: Any) -> None:
        deadline = time.monotonic() + 15
        while not check():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)

    async def drive() -> None:
        async with app.run_test(size=(170, 48)) as pilot:
            await until(lambda: app.frames >= 2 and impostors.program_ids <= shown())
            assert not server_own.programs & shown()
            assert "of the agent's own hidden" in str(app.query_one("#header", Static).render())
            await pilot.press("a")
            await until(lambda: server_own.programs <= shown())
            assert impostors.program_ids <= shown()
            await pilot.press("a")
            await until(lambda: not server_own.programs & shown())

    try:
        asyncio.run(drive())
    finally:
        source.close()
