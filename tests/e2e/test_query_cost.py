"""Queries that cost too much, against a real `phydev server`: the issue's attacks are refused
at once while a bystander keeps its latency; what does run is stopped by its deadline, by its
client leaving or by SIGTERM, and gives its memory back; the log stays short.

The objects: 20 programs that all use the same 8 maps (so programs { maps { programs ...
fans out 160-fold every two levels) and a 20k-entry hash map, in a private bpffs. And the
other way round: on a host crowded with 5000 programs and 5000 maps, every query of the web
UI and of `phydev top --agent` still fits the default limits.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devagent.api import build_schema
from devagent.api.http import select_operation
from devagent.api.limits import CostMeter, parse_query
from devagent.api.list_sizes import ListSizes
from devagent.bpf.handles import Fd
from devagent.bpf.maps import create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.objects import map_info, program_info
from devagent.bpf.progs import load_program, return_imm
from devagent.cli.top.fleet import fleet_query
from devagent.cli.top.remote import top_query
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.conftest import BpffsMount, PhydevServer, require_kernel
from tests.e2e.conftest import Fanout
from tests.e2e.test_graphql_server import NAVIGATION
from tests.e2e.ui_queries import ui_operations, variables_for


def attacks(big_id: int) -> dict[str, str]:
    """The issue's four: each within every documented limit of the old server, each took
    14-116 s of CPU (or 1.2 GiB) there."""
    depth = 24
    fragments = f"query {{ map(id: {big_id}) {{ ...F0 }} }}\n" + "".join(
        f"fragment F{i} on Map {{ id ...F{i + 1} ...F{i + 1} }}\n" for i in range(depth)
    ) + f"fragment F{depth} on Map {{ name }}\n"  # fmt: skip
    nesting = "{ programs { " + "maps { programs { " * 5 + "id" + " } }" * 5 + " } }"
    aliases = f"{{ map(id: {big_id}) {{ " + " ".join(
        f"a{i}: entries(limit: 10000) {{ key value }}" for i in range(300)) + " } }"  # fmt: skip
    repeated = "{ maps { " + "__typename " * 80_000 + "} }"
    return {"fragments": fragments, "nesting": nesting, "aliases": aliases, "repeated": repeated}


def post(
    url: str, query: str, timeout: float = 120, variables: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    req = urllib.request.Request(url + "/query", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int, what: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith(what + ":"))
    return int(line.split()[1]) / 1024


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@pytest.fixture(scope="module")
def agent(fanout: Fanout) -> Iterator[PhydevServer]:
    """An agent with the default limits."""
    server = PhydevServer(bpf_dir=fanout.bpf_dir)
    server.wait_ready()
    yield server
    server.stop()


def test_attacks_are_refused_at_once(agent: PhydevServer, fanout: Fanout) -> None:
    says = {"fragments": "is selected 16777216 times in one selection set",
            "nesting": "values (fields times list sizes on this host); the limit is 200000",
            "aliases": "values (fields times list sizes on this host); the limit is 200000",
            "repeated": "more than 20000 tokens"}  # fmt: skip
    cpu_before = cpu_seconds(agent.proc.pid)
    for name, query in attacks(fanout.big_id).items():
        started = time.monotonic()
        status, body = post(agent.url, query)
        took = time.monotonic() - started
        assert status == 400 and says[name] in body["errors"][0]["message"], (name, body)  # type: ignore[index]
        assert took < 5, f"{name} took {took:.1f} s"
    assert cpu_seconds(agent.proc.pid) - cpu_before < 5
    assert memory_mib(agent.proc.pid, "VmHWM") < 200


def test_a_bystander_keeps_its_latency_during_attacks(agent: PhydevServer, fanout: Fanout) -> None:
    """Four clients loop over the attack queries while a fifth runs the explorer's Navigation
    query (a new text each time, so the response cache does not answer it)."""
    counter = iter(range(10**6))

    def bystander(n: int) -> list[float]:
        times = []
        for _ in range(n):
            started = time.monotonic()
            status, body = post(agent.url, f"{NAVIGATION} # {next(counter)}")
            times.append(time.monotonic() - started)
            assert status == 200 and "errors" not in body
        return times

    calm = bystander(30)
    stop = threading.Event()
    statuses: list[int] = []

    def attacker() -> None:
        queries = list(attacks(fanout.big_id).values())
        while not stop.is_set():
            for query in queries:
                statuses.append(post(agent.url, query)[0])

    threads = [threading.Thread(target=attacker) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        stormy = bystander(30)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    # Each attack is refused: 400 for what it is, or 503 while two costly ones are in hand.
    assert statuses and set(statuses) <= {400, 503}, set(statuses)
    report = (f"bystander latency calm p50 {percentile(calm, 50) * 1e3:.1f} ms, p99 "
              f"{percentile(calm, 99) * 1e3:.1f} ms; during {len(statuses)} refused attacks "
              f"({statuses.count(503)} of them 503 busy) "
              f"p50 {percentile(stormy, 50) * 1e3:.1f} ms, p99 "
              f"{percentile(stormy, 99) * 1e3:.1f} ms")  # fmt: skip
    print(report)
    assert percentile(stormy, 99) < 2.0, report
    assert statistics.median(stormy) < 0.5, report


def test_float_variables_cost_what_their_ints_cost(agent: PhydevServer, fanout: Fanout) -> None:
    """Issue 21: `limit: 10000.0` or `id: 7909.0` in the variables was measured as no entries
    at all while graphql-core runs it as 10000: a query refused with 10000 ran with 10000.0
    (and, measured cheap, skipped the lane that lets two costly requests run at once)."""
    pages = " ".join(f"p{i}: entries(limit: $n) {{ key value }}" for i in range(10))
    query = "query($id: Int!, $n: Int) { map(id: $id) { " + pages + " } }"
    as_ints = {"id": fanout.big_id, "n": 10_000}
    status, refused = post(agent.url, query, variables=as_ints)
    assert status == 400 and "the limit is 200000" in refused["errors"][0]["message"], refused
    for floats in ({"n": 10_000.0}, {"id": float(fanout.big_id)}):
        assert post(agent.url, query, variables={**as_ints, **floats}) == (400, refused)
    # What graphql-core refuses is refused with its own message, as before.
    status, body = post(agent.url, query, variables={**as_ints, "n": 10_000.5})
    message = body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None, body
    assert "Int cannot represent non-integer value: 10000.5" in message, body


NO_COST_LIMIT = str(10**30)


def lenient(fanout: Fanout, timeout: float) -> PhydevServer:
    """An agent told to let expensive queries run: only its deadline and the answer-size
    limit stand between them and the host."""
    server = PhydevServer("--max-query-cost", NO_COST_LIMIT, "--query-timeout", str(timeout),
                          bpf_dir=fanout.bpf_dir)  # fmt: skip
    server.wait_ready()
    return server


def test_the_deadline_stops_a_query(fanout: Fanout) -> None:
    server = lenient(fanout, timeout=2)
    try:
        started = time.monotonic()
        status, body = post(server.url, attacks(fanout.big_id)["nesting"])
        took = time.monotonic() - started
    finally:
        server.stop()
    assert status == 400, body
    assert body["errors"][0]["message"].startswith("the query took longer than 2 s")  # type: ignore[index]
    assert took < 6, f"stopped after {took:.1f} s"


def test_the_answer_size_is_capped_and_cancelled_work_frees_memory(fanout: Fanout) -> None:
    """300 pages of 10000 entries: refused once its answer passes 16 MiB, and the memory the
    execution took is given back (an abandoned query used to keep 125-223 MiB for minutes).

    The baseline is a server that has answered one such page: what that page leaves (the
    whole-map read kept 30 s for the next pages, the snapshot, plans: ~23 MiB here) is the
    cost of serving the map at all, not of the refused query; measured from a fresh start,
    it made `after` vary by 20-50 MiB from run to run."""
    server = lenient(fanout, timeout=120)
    try:
        pid = server.proc.pid
        one_page = f"{{ map(id: {fanout.big_id}) {{ entries(limit: 10000) {{ key value }} }} }}"
        assert post(server.url, one_page)[0] == 200
        before = memory_mib(pid)
        status, body = post(server.url, attacks(fanout.big_id)["aliases"])
        peak = memory_mib(pid, "VmHWM")

        def given_back(after: float) -> bool:
            return after - before < 0.6 * (peak - before) and after < before + 50

        # Every object is freed at once (tracemalloc sees ~0.5 MB left); what stays in RSS is
        # the allocators' fragmentation, which varies from run to run, until the server has
        # been quiet for its idle trim (6 s, runtime.memory): by then most of the rise is back.
        deadline = time.monotonic() + 12
        after = memory_mib(pid)
        while not given_back(after) and time.monotonic() < deadline:
            time.sleep(0.5)
            after = memory_mib(pid)
    finally:
        server.stop()
    assert status == 400, body
    assert "the answer would be larger than 16777216 bytes" in body["errors"][0]["message"]  # type: ignore[index]
    assert peak > before + 20, "the query should have done real work"
    report = f"RSS {after:.0f} MiB after, {before:.0f} before, {peak:.0f} peak"
    assert given_back(after), report


def raw_query(port: int, query: str) -> socket.socket:
    """Send a query on a socket and return the socket without reading the answer."""
    body = json.dumps({"query": query}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"POST /query HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
    return sock


def cpu_settles(pid: int, within: float) -> bool:
    """Whether the process stops using CPU (less than 0.1 s in 1 s) within `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        used = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - used < 0.1:
            return True
    return False


def test_a_client_leaving_cancels_its_query(fanout: Fanout) -> None:
    """An abandoned query kept running (about 4.5 min in the issue)."""
    server = lenient(fanout, timeout=600)
    try:
        pid = server.proc.pid
        sock = raw_query(server.port, attacks(fanout.big_id)["nesting"])
        time.sleep(1.0)
        assert cpu_seconds(pid) > 0.3, "the query should be running"
        sock.close()
        assert cpu_settles(pid, within=5), "the query went on after its client left"
        status, _ = post(server.url, "{ maps { id } }")
        assert status == 200
    finally:
        _, output = server.stop()
    assert "Traceback" not in output


def test_sigterm_does_not_wait_for_a_running_query(fanout: Fanout) -> None:
    """SIGTERM waited 21-25 s for such a query to finish."""
    server = lenient(fanout, timeout=600)
    try:
        sock = raw_query(server.port, attacks(fanout.big_id)["nesting"])
        time.sleep(1.0)
        started = time.monotonic()
        server.proc.terminate()
        assert server.proc.wait(10) == 0
        took = time.monotonic() - started
        answer = sock.recv(65536)
        sock.close()
        assert took < 3, f"exit took {took:.1f} s"
        assert answer.startswith(b"HTTP/1.1 503") and b"the server is shutting down" in answer
    finally:
        _, output = server.stop()
    assert "Traceback" not in output


def test_client_mistakes_log_one_short_line_each(fanout: Fanout) -> None:
    """A 35 KB request wrote 188 MB of log; unknown ids, negative offsets and syntax errors
    each wrote a traceback. (A fresh agent: lines are rate-limited per minute.)"""
    unknown = "{ " + " ".join(f"a{i}: map(id: {2_000_000_000 + i}) {{ id }}" for i in range(1200))
    unknown += " }"  # about 35 KB, 1200 "not found" errors
    fields = "{ maps { " + " ".join(f"nosuchfield{i}" for i in range(2500)) + " } }"
    paging = f"{{ map(id: {fanout.big_id}) {{ entries(offset: -1) {{ key }} }} }}"
    mistakes = [unknown, fields, "{ maps { id ", paging, "{ program(id: 2000000000) { id } }"]
    assert len(unknown) > 30_000 and len(fields) > 30_000
    server = PhydevServer(bpf_dir=fanout.bpf_dir)
    try:
        server.wait_ready()
        for query in mistakes:
            status, body = post(server.url, query)
            assert status in (200, 400) and body["errors"], body
    finally:
        _, log = server.stop()
    lines = [line for line in log.splitlines() if not line.startswith("phydev: ")]  # start lines
    assert "Traceback" not in log and len(log) < 2000, log[:3000]
    assert len(lines) == len(mistakes) and all(len(line) < 300 for line in lines), lines
    assert all(line.startswith("client error: ") for line in lines), lines


@pytest.mark.parametrize(
    ("body", "says"),
    [(b'{"query": "{ maps { id } }", "operationName": "\\ud800"}', "no low surrogate"),
     (b'{"query": "{ maps { id } }", "variables": ' + b'{"a": ' * 100_000 + b"1"
      + b"}" * 100_001, "depth( limit)? exceeded"),  # orjson >= 3.10 / 3.9.15's words
     (b'{"query": "{ maps { id } }", "operationName": 5}', "operationName must be a string")],
)  # fmt: skip
def test_malformed_requests_are_400_with_a_message(
    agent: PhydevServer, body: bytes, says: str
) -> None:
    """A lone surrogate in operationName, or variables nested 100k deep, gave 500 and a
    traceback."""
    req = urllib.request.Request(agent.url + "/query", data=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 400
    message = json.loads(err.value.read())["errors"][0]["message"]
    assert re.search(says, message), message
    assert post(agent.url, "{ maps { id } }")[0] == 200
    assert "Traceback" not in agent.output()


# ---------------------------------------------------------------- the UI's own queries

CROWD = 5000  # programs, each using its own map
# What the programs table renders in a 1400x900 window, from the top (ui/vtable.js).
VISIBLE_ROWS = -(-900 // 28) + 2 * 8


@dataclass
class Crowd:
    program_ids: list[int]
    map_id: int  # a per-CPU array of 1000 entries, used by the first program
    fds: list[Fd]


@contextlib.contextmanager
def made_crowd() -> Iterator[Crowd]:
    """CROWD socket filters, each using its own map (one-entry arrays but the first), owned
    by this process: closing the fds frees them all (~1 s to make here)."""
    require_kernel()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    fds: list[Fd] = []
    try:
        started = time.monotonic()
        fds.append(create_map(MAP_TYPE_IDS["PerCPUArray"], 4, 8, 1000, name="crowd_m0"))
        fds += [create_map(MAP_TYPE_IDS["Array"], 4, 8, 1, name=f"crowd_m{i}")
                for i in range(1, CROWD)]  # fmt: skip
        maps = list(fds)
        socket_filter = PROG_TYPE_IDS["SocketFilter"]
        fds += [load_program(socket_filter, return_imm(0, (m.fd,)), name=f"crowd_p{i}")
                for i, m in enumerate(maps)]  # fmt: skip
        print(f"{2 * CROWD} objects made in {time.monotonic() - started:.2f} s")
        yield Crowd([program_info(p).id for p in fds[CROWD:]], map_info(maps[0]).id, fds)
    finally:
        for fd in fds:
            fd.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def crowd() -> Iterator[Crowd]:
    """A crowd of this test's own (see made_crowd)."""
    with made_crowd() as made:
        yield made


def ui_values(crowd: Crowd) -> dict[str, object]:
    """Variables of the UI's operations, by where they are used (see ui_queries): the first
    program and its map, the biggest entries page (sorted by value) and the rows the programs
    table shows."""
    program, map_id = crowd.program_ids[0], crowd.map_id
    key = {"key": "00000000", "keyFormat": "HEX"}
    return {
        "program.id": program, "programStats.ids[]": program, "instructions.kind": "XLATED",
        "programStats.ids": crowd.program_ids[:VISIBLE_ROWS],
        "connectedGraph.from": program, "connectedGraph.fromType": "PROGRAM",
        "map.id": map_id, "entries.offset": 0, "entries.limit": 500,
        "entries.keyFormat": "HEX", "entries.valueFormat": "HEX",
        # sorted by value, no top, no search: every entry of the map read and ordered
        "entries.sortBy": "value", "entries.descending": True, "entries.top": None,
        "entries.keySearch": None, "entries.keySearchFormat": "HEX",
        **{f"entryPosition.{k}": v for k, v in key.items()},
        **{f"{m}.mapId": map_id for m in ("updateMapValue", "deleteMapValues", "createMapValue")},
        **{f"{m}.{k}": v for m in ("updateMapValue", "deleteMapValues", "createMapValue")
           for k, v in key.items()},
        "updateMapValue.cpu": 0, "updateMapValue.value": "1", "deleteMapValues.keys": ["00"],
        "updateMapValue.valueFormat": "NUMBER", "createMapValue.valueFormat": "NUMBER",
        "createMapValue.values": ["1"], "pinMap.id": map_id, "pinMap.path": "/crowd",
        # the fleet page (answered with its "not configured" error here: no --prometheus)
        "topPrograms.by": "CPU", "topPrograms.limit": 15, "fullestMaps.limit": 15,
        "programsWhere.name": "crowd", "programsWhere.tag": None,
        "history.seconds": 3600, "history.step": 30, "changes.seconds": 86400,
    }  # fmt: skip


def test_every_ui_and_top_query_fits_the_default_limits_on_a_crowded_host(crowd: Crowd) -> None:
    """With 5000 programs and 5000 maps, every operation of the web UI (read from its
    scripts) and of `phydev top --agent` is answered under the default limits. Issue 21: a
    program's page asked for about 3342471 values with 1000 programs (its one-program
    history was weighed as every program's), and the programs list's sparklines failed.
    Mutations are sent too: writes are off, so each answers with its `error` field set."""
    mount = BpffsMount()
    server = PhydevServer(bpf_dir=str(mount.path))
    try:
        server.wait_ready(timeout=60)
        values = ui_values(crowd)
        operations = [(str(op), op.text, variables_for(op.text, values)) for op in ui_operations()]
        selected = crowd.program_ids[0]
        operations += [("top", top_query(None), {}),
                       ("top, a program selected", top_query(selected), {}),
                       ("top --fleet", fleet_query(), {})]  # fmt: skip
        limit = Settings().max_query_cost
        meter = CostMeter(build_schema(), Settings().max_entries_limit)
        sizes = ListSizes.of(Inventory(str(mount.path)).snapshot(), possible_cpus())
        report, failed = [], []
        for name, text, variables in operations:
            document = parse_query(text)
            operation = select_operation(document, None)
            assert operation is not None
            cost = meter.measure(document, operation, variables, sizes).cost
            started = time.monotonic()
            status, body = post(server.url, text, variables=variables)
            took = time.monotonic() - started
            errors = body.get("errors")
            report.append(f"{name}: cost {cost}, HTTP {status} in {took * 1e3:.0f} ms")
            if status != 200 or errors or "data" not in body:
                failed.append(f"{name}: HTTP {status} {errors}")
        print("\n".join(report))
        assert not failed, f"over the default limits (cost {limit}) or failing:\n" + "\n".join(
            failed
        )
    finally:
        _, output = server.stop()
        mount.close()
    assert "Traceback" not in output
