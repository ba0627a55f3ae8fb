"""When a real `phydev server` holds a BPF_ENABLE_STATS fd (issue 22, item 2): on demand by
default (taken by a look at rates or the host, let go after --stats-idle seconds without
one), always with --enable-stats, never with --no-enable-stats; Query.host says which.

Whether the server holds the fd is read from /proc/<server pid>/fd, which no other process
on the host can change. Whether run counts move depends on every holder on the host (the
kernel has one switch), so the strict "they do not move before the look" check is made only
when no other process holds one, and skipped otherwise.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from devagent.bpf.names import PROG_TYPE_IDS
from devagent.bpf.objects import get_program, program_info
from devagent.bpf.progs import load_program, return_imm
from devagent.bpf.stats import sysctl_enabled
from tests.conftest import (
    SO_ATTACH_BPF,
    PhydevServer,
    StatsHold,
    free_port,
    port_is_open,
    require_kernel,
    run_phydev,
)
from tests.e2e.test_graphql_server import data
from tests.e2e.test_metrics_server import holds_stats_fd, stats_fd_holders

IDLE = 2.0  # --stats-idle of the on-demand server: short, for the test
POLICY = "host { statsMode statsPolicy statsHeld statsPolicyDescription }"


@pytest.fixture
def servers() -> Iterator[list[PhydevServer]]:
    started: list[PhydevServer] = []
    yield started
    for server in started:
        server.stop()


def start(
    servers: list[PhydevServer], *args: str, env: dict[str, str] | None = None
) -> PhydevServer:
    require_kernel()
    server = PhydevServer(*args, bpf_dir="/sys/fs/bpf", env=env)
    servers.append(server)
    server.wait_ready()  # a scrape: not a look at rates
    return server


class Filter:
    """A socket filter of this test on its own UDP socket: its run count moves only with
    the datagrams sent here, and only while statistics are on."""

    def __init__(self) -> None:
        self.prog = load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0), name="sp_probe")
        self.id = program_info(self.prog).id
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, self.prog.fd)

    def pump(self, n: int = 20) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            for _ in range(n):
                out.sendto(b"s", self.sock.getsockname())
        time.sleep(0.05)

    def run_count(self) -> int:
        return get_program(self.id).run_count

    def close(self) -> None:
        self.sock.close()
        self.prog.close()


def wait_until(cond: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_on_demand_takes_the_fd_on_a_look_and_lets_it_go_when_idle(
    servers: list[PhydevServer], stats_enabled: StatsHold
) -> None:
    """No flag: no fd until a query asks for rates (a listing without rates is no look); held
    while looked at; let go --stats-idle seconds after the last look. Run counts of a real
    socket filter move while it is held."""
    probe = Filter()
    try:
        with stats_enabled.suspended():  # this session's own fd out of the way
            server = start(servers, "--stats-idle", str(IDLE))
            pid = server.proc.pid
            assert not holds_stats_fd(pid), "no look yet: the fd must not be held"
            data(server, "{ programs { id name } }")
            assert not holds_stats_fd(pid), "a listing without rates took the fd"
            others = {p: c for p, c in stats_fd_holders().items() if p != pid}
            strict = not others and not sysctl_enabled()
            if strict:
                before = probe.run_count()
                probe.pump()
                assert probe.run_count() == before, "statistics on before anyone looked"

            answer = data(server, "{ programs { id eventsPerSecond } " + POLICY + " }")
            assert holds_stats_fd(pid), "a rates query must take the fd"
            host = answer["host"]
            assert host["statsPolicy"] == "ON_DEMAND" and host["statsHeld"] is True
            assert host["statsMode"] in ("ENABLE_STATS_FD", "SYSCTL")
            assert "on demand" in host["statsPolicyDescription"]
            assert "--enable-stats" in host["statsPolicyDescription"]
            before = probe.run_count()
            probe.pump(30)
            assert probe.run_count() >= before + 30, "run counts must move while watched"

            # Looks keep it: a host query every 0.5 s for longer than the idle time.
            for _ in range(int(IDLE / 0.5) + 2):
                time.sleep(0.5)
                assert holds_stats_fd(pid), "let go while someone was still looking"
                data(server, "{ host { statsHeld } }")
                looked = time.monotonic()
            assert wait_until(lambda: not holds_stats_fd(pid), IDLE + 5), "never let go"
            assert time.monotonic() - looked >= IDLE - 0.5, "let go before the idle time"
            if strict and not {p for p in stats_fd_holders() if p != pid}:
                stopped = probe.run_count()
                probe.pump()
                assert probe.run_count() == stopped, "statistics still on after the release"
            answer = data(server, "{ " + POLICY + " }")
            assert answer["host"]["statsHeld"] is True, "a new look takes it again"
            assert holds_stats_fd(pid)
            if not strict:
                pytest.skip(f"other holders ({others}) or the sysctl: could not check that "
                            "run counts stood still without the server's fd")  # fmt: skip
    finally:
        probe.close()


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--enable-stats",), None), ((), {"DEVAGENT_ENABLE_STATS": "true"})],
    ids=["flag", "env"],
)
def test_enable_stats_holds_from_start(
    servers: list[PhydevServer], args: tuple[str, ...], env: dict[str, str] | None
) -> None:
    server = start(servers, "--stats-idle", "0.5", *args, env=env)
    assert holds_stats_fd(server.proc.pid), "--enable-stats holds the fd from the start"
    host = data(server, "{ " + POLICY + " }")["host"]
    assert host["statsPolicy"] == "ALWAYS" and host["statsHeld"] is True
    assert "always on" in host["statsPolicyDescription"]
    time.sleep(1.5)  # past --stats-idle: which applies only on demand
    assert holds_stats_fd(server.proc.pid)


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--no-enable-stats",), None), ((), {"DEVAGENT_ENABLE_STATS": "false"})],
    ids=["flag", "env"],
)
def test_no_enable_stats_never_takes_it(
    servers: list[PhydevServer], args: tuple[str, ...], env: dict[str, str] | None
) -> None:
    server = start(servers, *args, env=env)
    answer = data(server, "{ programs { id eventsPerSecond } " + POLICY + " }")
    host = answer["host"]
    assert host["statsPolicy"] == "NEVER" and host["statsHeld"] is False
    assert "--no-enable-stats" in host["statsPolicyDescription"]
    data(server, "{ programStats(seconds: 10) { id } }")
    assert not holds_stats_fd(server.proc.pid), "--no-enable-stats took the fd"


def test_port_flag_wins_over_env(servers: list[PhydevServer]) -> None:
    """`--port N` listens on N; env PORT (the Go agent's way) is what PhydevServer sets and
    stays the fallback (every other test of a server relies on it)."""
    require_kernel()
    port = free_port()
    server = PhydevServer("--port", str(port), bpf_dir="/sys/fs/bpf")
    servers.append(server)
    assert server.port != port
    server.url = f"http://127.0.0.1:{port}"
    server.wait_ready()
    assert "programs" in data(server, "{ programs { id } }")
    assert not port_is_open(server.port), "env PORT was used although --port was given"


def test_top_agent_is_a_look(servers: list[PhydevServer]) -> None:
    """`phydev top --agent` against an on-demand server: its refreshes ask for rates and the
    host, so the server holds the fd while it runs (and the agent's HOST:PORT form works)."""
    server = start(servers, "--stats-idle", "30")
    assert not holds_stats_fd(server.proc.pid)
    result = run_phydev("top", "--agent", f"127.0.0.1:{server.port}", "--json", "--count", "2",
                        "--interval", "0.3", check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert holds_stats_fd(server.proc.pid), "top --agent did not count as watching"
