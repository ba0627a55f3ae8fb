"""The live view's API: Program rates, Query.programStats and Query.host, on a real server
with a socket filter receiving a known packet rate; and that an agent nobody watches reads
nothing from the kernel."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devagent.model.inventory import Inventory
from devagent.model.sampler import THREAD_NAME
from devagent.model.settings import Settings
from devagent.web.app import create_app
from tests.conftest import LinkFixture, PhydevServer, bpftool_json
from tests.e2e.test_graphql_server import data, post
from tests.pump import PacketPump

RATE = 300.0
RATES = "programs { id name eventsPerSecond cpuPercent avgRunTimeNs recursionMissesPerSecond }"
HOST = (
    "host { hostname kernelRelease cpuCount statsMode statsDescription programCount mapCount "
    "linkCount memlockBytes cpuPercent hostCpuPercent eventsPerSecond }"
)


@pytest.fixture(scope="module")
def live_agent(
    packet_pump: PacketPump, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PhydevServer]:
    server = PhydevServer(bpf_dir=str(tmp_path_factory.mktemp("bpffs-none")))
    server.wait_ready()
    yield server
    server.stop()


def run_cnt(prog_id: int) -> int:
    info = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(info, dict)
    return int(info.get("run_cnt", 0))


def test_rates_and_history_match_the_known_rate(
    live_agent: PhydevServer, packet_pump: PacketPump
) -> None:
    """The ground truth is what the sender really sent (it records the time of every
    datagram): each interval's run count delta equals the datagrams sent in it, within a
    few at its edges (a reading's wall time and its counter read are not one instant), and
    the rates are those deltas over the interval. On a busy 2-CPU machine the sender can
    fall behind and catch up, so a single interval may be off the nominal rate by more
    than its 15 %; the average over the run may not. The history's run counts lie within
    bpftool's readings taken before and after."""
    pid = packet_pump.prog_id
    packet_pump.start(RATE)
    try:
        first_cnt = run_cnt(pid)
        data(live_agent, f"{{ {RATES} }}")  # starts the server's sampling
        time.sleep(3.5)
        programs = {p["id"]: p for p in data(live_agent, f"{{ {RATES} }}")["programs"]}
        stats = data(
            live_agent,
            f"{{ programStats(ids: [{pid}], seconds: 60) {{ id program {{ name }} "
            "points { time runCount runTimeNs eventsPerSecond cpuPercent } } }",
        )["programStats"]
        last_cnt = run_cnt(pid)
    finally:
        packet_pump.stop()
    mine = programs[pid]
    assert mine["name"] == "rate_probe"
    assert mine["eventsPerSecond"] > 0
    assert mine["cpuPercent"] > 0 and mine["avgRunTimeNs"] > 0
    assert mine["recursionMissesPerSecond"] == 0
    # CPU % and average run time describe the same run_time_ns delta.
    run_ns_per_s = mine["cpuPercent"] / 100 * 1e9
    assert run_ns_per_s == pytest.approx(mine["eventsPerSecond"] * mine["avgRunTimeNs"])

    (series,) = stats
    assert series["id"] == pid and series["program"] == {"name": "rate_probe"}
    points = series["points"]
    assert len(points) >= 4
    for before, after in itertools.pairwise(points):
        dt = after["time"] - before["time"]
        assert after["eventsPerSecond"] == pytest.approx(
            (after["runCount"] - before["runCount"]) / dt, rel=0.02
        )
        assert after["cpuPercent"] == pytest.approx(
            100 * (after["runTimeNs"] - before["runTimeNs"]) / (dt * 1e9), rel=0.02
        )
    assert first_cnt <= points[0]["runCount"] <= points[-1]["runCount"] <= last_cnt
    full = points[1:]  # intervals with the pump running throughout
    assert full
    for before, after in itertools.pairwise(points):
        sent = packet_pump.sent_between(before["time"], after["time"])
        counted = after["runCount"] - before["runCount"]
        assert abs(counted - sent) <= 5 + 0.05 * sent, (counted, sent)
    span = points[-1]["time"] - points[1]["time"]
    average = (points[-1]["runCount"] - points[1]["runCount"]) / span
    assert average == pytest.approx(RATE, rel=0.15)
    # The latest rates served by `programs` are those of one of the history's intervals.
    rates = [p["eventsPerSecond"] for p in points[1:]]
    assert any(mine["eventsPerSecond"] == pytest.approx(r, rel=0.02) for r in rates), (
        mine["eventsPerSecond"], rates)  # fmt: skip


def test_host(live_agent: PhydevServer, packet_pump: PacketPump) -> None:
    import os
    import socket

    packet_pump.start(RATE)
    try:
        data(live_agent, f"{{ {HOST} }}")
        time.sleep(1.2)
        host = data(live_agent, f"{{ {HOST} {RATES} }}")
    finally:
        packet_pump.stop()
    h = host["host"]
    assert h["hostname"] == socket.gethostname() and h["kernelRelease"] == os.uname().release
    assert h["cpuCount"] == os.cpu_count()
    # The test session holds a BPF_ENABLE_STATS fd (unless someone set the sysctl).
    assert h["statsMode"] in ("ENABLE_STATS_FD", "SYSCTL")
    if h["statsMode"] == "ENABLE_STATS_FD":
        assert "BPF_ENABLE_STATS fd held by" in h["statsDescription"]
    assert h["programCount"] >= 1 and h["mapCount"] >= 0 and h["linkCount"] >= 0
    assert isinstance(h["memlockBytes"], float) and h["memlockBytes"] >= 0
    mine = next(p for p in host["programs"] if p["id"] == packet_pump.prog_id)
    assert h["cpuPercent"] >= mine["cpuPercent"] > 0
    assert h["hostCpuPercent"] == pytest.approx(h["cpuPercent"] / h["cpuCount"])
    assert h["eventsPerSecond"] >= mine["eventsPerSecond"] > 0


def test_bad_stats_arguments_are_errors(live_agent: PhydevServer) -> None:
    status, body = post(live_agent, "{ programStats(seconds: 0) { id } }")
    assert status == 200 and "seconds must be positive" in body["errors"][0]["message"]
    status, body = post(live_agent, "{ programStats(ids: [999999999]) { id points { time } } }")
    assert body["data"]["programStats"] == [{"id": 999999999, "points": []}]
    # An explicit null stands for the default window, not an internal error.
    status, body = post(live_agent, "{ programStats(ids: [999999999], seconds: null) { id } }")
    assert status == 200 and body == {"data": {"programStats": [{"id": 999999999}]}}, body


def sampler_threads(besides: frozenset[threading.Thread] = frozenset()) -> list[threading.Thread]:
    """Sampler threads alive now, other than `besides` (those of samplers that earlier tests
    made, which stop on their own once idle)."""
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t not in besides]


def test_nobody_watching_means_no_kernel_reads(packet_pump: PacketPump, tmp_path: Any) -> None:
    """In process, to count: queries without rates walk once per snapshot and start no
    sampler; a rates query starts it; once nobody asked for `watch_idle_seconds` it stops
    and nothing more is read."""
    earlier = frozenset(sampler_threads())
    settings = Settings(bpf_dir=str(tmp_path), watch_idle_seconds=1.0, sample_interval=0.2)
    inventory = Inventory(str(tmp_path))
    app = create_app(settings, inventory)
    sampler = app.state.sampler

    async def ask(query: str) -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.post("/query", json={"query": query})
            body = response.json()
            assert "errors" not in body, body
            return dict(body["data"])

    asyncio.run(ask("{ programs { id name runCount } host { programCount memlockBytes } }"))
    walks = inventory.walks
    time.sleep(1.5)
    assert inventory.walks == walks == 1 and sampler.reads == 0 and not sampler_threads(earlier)

    asyncio.run(ask(f"{{ {RATES} }}"))
    assert sampler.reads >= 2 and len(sampler_threads(earlier)) == 1
    deadline = time.monotonic() + 5
    while sampler.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sampler.running  # resting: the history is kept, nothing is read
    reads, walks = sampler.reads, inventory.walks
    time.sleep(1.0)
    assert (sampler.reads, inventory.walks) == (reads, walks)
    sampler.stop()
    assert not sampler_threads(earlier)


def test_rate_history_survives_nobody_watching(packet_pump: PacketPump, tmp_path: Any) -> None:
    """The UI promises five minutes of rate history: a real server sampling only while
    watched (--watch-idle 1 s here, 60 by default) keeps the points taken before a pause
    in which nobody asked, and adds new ones after it; the interval over the pause has no
    rate (nobody sampled it), not an average posing as one."""
    server = PhydevServer("--watch-idle", "1", bpf_dir=str(tmp_path))
    pid = packet_pump.prog_id
    query = f"{{ programStats(ids: [{pid}]) {{ points {{ time eventsPerSecond }} }} }}"
    try:
        server.wait_ready()
        packet_pump.start(RATE)
        for _ in range(10):  # watched for 4 s: readings 1 s apart
            before = data(server, query)["programStats"][0]["points"]
            time.sleep(0.4)
        assert len(before) >= 3 and before[-1]["eventsPerSecond"] is not None
        # Nobody asks: sampling stops at the first reading 1 s after the last question (at
        # most 2 s after it), so the next reading, after this, is at least 2.4 s later.
        time.sleep(4.0)
        after = data(server, query)["programStats"][0]["points"]
        time.sleep(1.2)
        after = data(server, query)["programStats"][0]["points"]
    finally:
        packet_pump.stop()
        server.stop()
    times = [p["time"] for p in after]
    assert times[: len(before)] == [p["time"] for p in before]  # kept across the pause
    gaps = [b - a for a, b in itertools.pairwise(times)]
    pause = gaps.index(max(gaps)) + 1
    assert max(gaps) >= 2.0 and len(after) - pause >= 2, times
    assert after[pause]["eventsPerSecond"] is None
    assert after[-1]["eventsPerSecond"] is not None


def test_attach_points(live_agent: PhydevServer, link_fixture: LinkFixture) -> None:
    """The short attach form top shows, from the links the kernel lists."""
    links = {lk["id"]: lk for lk in bpftool_json("link", "show")}  # type: ignore[union-attr]
    xdp_prog = links[link_fixture.xdp_link_id]["prog_id"]
    cg_prog = links[link_fixture.cgroup_link_id]["prog_id"]
    programs = {p["id"]: p for p in data(live_agent, "{ programs { id attachPoint } }")["programs"]}
    assert programs[xdp_prog]["attachPoint"] == f"xdp {link_fixture.devname}"
    assert programs[cg_prog]["attachPoint"] == (
        f"cgroup cgroup_inet_ingress {link_fixture.cgroup_path}"
    )
