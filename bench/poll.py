"""What a UI's poll costs, as the explorer meets it: every request on a fresh snapshot.

The explorer polls Navigation every 2 s per tab, so every poll finds the agent's 1 s
snapshot and answer cache expired: it pays the kernel walk and an execution. These rows time
exactly that (requests 1.1 s apart, each with a distinct text), with few and with many
objects, plus the server's memory at each stage of its life and the throughput of many
clients whose requests all execute.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable

from bench.budget import record
from bench.measure import p50_p99
from bench.objects import many_programs
from bench.server import NAVIGATION, AgentProcess, Client, FloorProcess

Row = tuple[str, str]
APART = 1.1  # seconds between two requests: past the agent's 1 s snapshot age


def latency_text(samples: list[float]) -> str:
    """Seconds as `p50 X ms, p99 Y ms`."""
    p50, p99 = p50_p99(samples)
    return f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"


def fresh_polls(client: Client, make_query: Callable[[int], str], count: int) -> list[float]:
    """Wall times of `count` requests, each after the snapshot expired, each a new text."""
    out = []
    for i in range(count):
        time.sleep(APART)
        start = time.perf_counter()
        body = client.query_bytes(make_query(i))  # until the last byte arrived
        out.append(time.perf_counter() - start)
        json.loads(body)  # a whole, valid answer (parsed outside the timing: client work)
    return out


def navigation_text(i: int) -> str:
    """Navigation with a distinct text (a comment): what a poll looks like to the caches."""
    return f"{NAVIGATION}\n# poll {i}"


def distinct_selection(i: int) -> str:
    """Navigation selecting under a distinct alias: no answer can be shared, it executes."""
    return NAVIGATION.replace("runCount", f"rc{i}: runCount")


def throughput(port: int, make_query: Callable[[int], str], clients: int, seconds: float) -> float:
    """Requests per second of `clients` threads each sending make_query(n), n = 0, 1, ..."""
    done = [0] * clients
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        client = Client(port)
        while time.monotonic() < stop:
            n = done[i] * clients + i
            if n % 16 == 0:
                client.query(make_query(n))  # parsed in full now and then
            else:
                client.query_bytes(make_query(n))
            done[i] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - start)


def bench_small(count: int) -> list[Row]:
    """Navigation on a fresh snapshot with ~50 objects (25 programs + 25 maps of ours), then
    the same requests to a bare asyncio server answering as many bytes
    (bench/floor_server.py): what the VM gave at that moment, the agent's cost on top."""
    fds = many_programs(25)
    agent = AgentProcess()
    floor: FloorProcess | None = None
    try:
        client = Client(agent.port)
        size = len(client.query_bytes(NAVIGATION))  # the first query loads the GraphQL stack
        floor = FloorProcess(size)
        bare = Client(floor.port)
        bare.query_bytes(NAVIGATION)
        polls = fresh_polls(client, navigation_text, count)
        # After the agent's polls, not in turn with them: between two polls, any other
        # process's run cools what the agent's next one finds (interleaved, the agent's
        # p50 rose by 0.3-0.5 ms), which is no longer the case measured.
        floors = fresh_polls(bare, navigation_text, count)
        client.close()
        bare.close()
        record("nav_small_p50", statistics.median(polls) * 1e3)
    finally:
        agent.stop()
        if floor is not None:
            floor.stop()
        for fd in fds:
            fd.close()
    return [("Navigation on a fresh snapshot, ~50 objects (25 programs + 25 maps)",
             latency_text(polls)),
            (f"the same requests, right after, to a bare asyncio server answering {size} "
             "bytes (this VM's floor at that moment)", latency_text(floors))]  # fmt: skip


def bench_big(programs: int, count: int) -> list[Row]:
    """The same with `programs` programs + maps loaded (by the caller), and memory."""
    loaded = f"{programs} programs + {programs} maps"
    rows: list[Row] = []
    agent = AgentProcess()
    try:
        time.sleep(1.0)
        rows.append(("server RSS idle after start", f"{agent.rss_kib() / 1024:.1f} MiB"))
        record("idle_rss", agent.rss_kib() / 1024)
        client = Client(agent.port)
        client.get("/metrics")
        rows.append(("server RSS after its first scrape", f"{agent.rss_kib() / 1024:.1f} MiB"))
        client.query(NAVIGATION)
        rows.append(("server RSS after its first scrape and query",
                     f"{agent.rss_kib() / 1024:.1f} MiB"))  # fmt: skip
        polls = fresh_polls(client, navigation_text, count)
        rows.append((f"Navigation on a fresh snapshot, {loaded}", latency_text(polls)))
        record("nav_big_p50", statistics.median(polls) * 1e3)
        polls = fresh_polls(client, lambda i: "{ programs { id } }" + f"\n# {i}", count)
        rows.append(
            (f"`{{ programs {{ id }} }}` on a fresh snapshot, {loaded}", latency_text(polls))
        )
        scrapes = []
        for _ in range(count):
            time.sleep(APART)
            start = time.perf_counter()
            client.get("/metrics")
            scrapes.append(time.perf_counter() - start)
        rows.append(
            (f"/metrics without --etm on a fresh snapshot, {loaded}", latency_text(scrapes))
        )
        record("metrics_p50", statistics.median(scrapes) * 1e3)
        for name, make in (("distinct texts of one selection (answers shared per snapshot)",
                            navigation_text),
                           ("distinct selections (every request executes)",
                            distinct_selection)):  # fmt: skip
            qps = throughput(agent.port, make, 8, 10.0)
            rows.append((f"8 clients, Navigation, {name}", f"{qps:.0f} requests/s"))
            if make is navigation_text:
                record("clients_8", qps)
        rows.append(("server RSS after all of the above", f"{agent.rss_kib() / 1024:.1f} MiB"))
        time.sleep(8)  # the idle trimmer (6 s quiet) gives back what the burst freed
        rows.append(("server RSS 8 s later, idle", f"{agent.rss_kib() / 1024:.1f} MiB"))
        client.close()
    finally:
        agent.stop()
    return rows
