"""`phydev top` as a person or a script runs it: JSON Lines against a known packet rate,
locally and through a remote agent; the stats fd held while it runs and gone after q,
SIGINT or SIGTERM; a real terminal under tmux."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devagent.bpf.stats import SYSCTL, holds_stats_fd
from tests.conftest import ROOT, PacketFixture, PhydevServer, bpftool_json, run_phydev
from tests.e2e.terminal import PHYDEV, Terminal
from tests.pump import PROG_NAME, PacketPump

RATE = 300.0
TOKEN = "top-token"


def run_cnt(prog_id: int) -> int:
    info = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(info, dict)
    return int(info.get("run_cnt", 0))


def sysctl() -> str:
    return Path(SYSCTL).read_text()


def lines(*args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = run_phydev("top", *args, env=env)
    return [json.loads(line) for line in result.stdout.splitlines()]


def check_rates(frames: list[dict[str, Any]], pump: PacketPump, slack: float = 0.5) -> None:
    """Each 1 s line within 15 % of the nominal rate (the sender paces itself on a busy
    2-CPU machine); CPU %, events/s and average ns describe the same run_time_ns delta."""
    assert frames
    for frame in frames:
        assert set(frame) == {"time", "interval", "programs", "total"}
        assert frame["interval"] == pytest.approx(1.0, abs=slack)
        mine = next(p for p in frame["programs"] if p["id"] == pump.prog_id)
        assert mine["name"] == PROG_NAME and mine["type"] == "SocketFilter"
        assert mine["eventsPerSecond"] == pytest.approx(RATE, rel=0.15)
        assert mine["recursionMissesPerSecond"] == 0
        ns_per_s = mine["cpuPercent"] / 100 * 1e9
        assert ns_per_s == pytest.approx(mine["eventsPerSecond"] * mine["avgRunTimeNs"])
        assert frame["total"]["cpuPercent"] >= mine["cpuPercent"]
        assert frame["total"]["eventsPerSecond"] >= mine["eventsPerSecond"]


@pytest.fixture
def pumping(packet_pump: PacketPump) -> Iterator[PacketPump]:
    packet_pump.start(RATE)
    time.sleep(0.2)
    yield packet_pump
    packet_pump.stop()


def test_json_lines_follow_the_known_rate(pumping: PacketPump) -> None:
    before = run_cnt(pumping.prog_id)
    started = time.time()
    frames = lines("--json", "--interval", "1", "--count", "3")
    after = run_cnt(pumping.prog_id)
    assert len(frames) == 3
    check_rates(frames, pumping)
    # What top saw lies within the kernel's own count over the whole run, and close to
    # the packets the sender sent during top's intervals.
    seen = sum(
        next(p for p in f["programs"] if p["id"] == pumping.prog_id)["eventsPerSecond"]
        * f["interval"]
        for f in frames
    )
    assert seen <= after - before
    sent = pumping.sent_between(started, time.time())
    assert seen == pytest.approx(
        sent * sum(f["interval"] for f in frames) / (time.time() - started), rel=0.3
    )


def test_stdout_that_is_not_a_terminal_gets_json(pumping: PacketPump) -> None:
    frames = lines("--count", "1")  # captured stdout: a pipe
    check_rates(frames, pumping)


def test_remote_agent_with_token(pumping: PacketPump, tmp_path: Path) -> None:
    server = PhydevServer("--auth-token", TOKEN, bpf_dir=str(tmp_path))
    try:
        for _ in range(100):  # wait_ready() polls /metrics, which needs the token here
            if server.proc.poll() is None and _port_open(server.port):
                break
            time.sleep(0.1)
        frames = lines("--agent", server.url, "--count", "2", env={"DEVAGENT_AUTH_TOKEN": TOKEN})
        # The agent's first interval may be its short one; a remote line's interval is the
        # time between two answers, which a slow answer stretches.
        check_rates(frames[1:], pumping, slack=1.5)
        wrong = run_phydev("top", "--agent", server.url, "--count", "1",
                           "--auth-token", "nope", check=False)  # fmt: skip
        assert wrong.returncode == 1 and "401" in wrong.stderr and "--auth-token" in wrong.stderr
        absent = run_phydev("top", "--agent", "http://127.0.0.1:9", "--count", "1", check=False)
        assert absent.returncode == 1 and "cannot reach" in absent.stderr
    finally:
        server.stop()


def _port_open(port: int) -> bool:
    from tests.conftest import port_is_open

    return port_is_open(port)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_stats_fd_lives_as_long_as_top(packet_pump: PacketPump, sig: signal.Signals) -> None:
    before = sysctl()
    proc = subprocess.Popen(
        [PHYDEV, "top", "--json", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        json.loads(proc.stdout.readline())  # running: it has read twice
        assert holds_stats_fd(proc.pid)
        proc.send_signal(sig)
        assert proc.wait(10) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not Path(f"/proc/{proc.pid}").exists() or not holds_stats_fd(proc.pid)
    assert sysctl() == before  # never touched


def test_no_enable_stats_holds_no_fd(packet_pump: PacketPump) -> None:
    proc = subprocess.Popen(
        [PHYDEV, "top", "--json", "--interval", "0.2", "--no-enable-stats", "--count", "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert not holds_stats_fd(proc.pid)
    assert first["programs"]
    assert proc.wait(10) == 0


# ---------------------------------------------------------------- a real terminal


README = ROOT / "README.md"
SCREEN_START, SCREEN_END = "<!-- top-screen: start -->", "<!-- top-screen: end -->"


def update_readme(screen: str) -> None:
    """Put a real capture of the screen in the README (DEVAGENT_UPDATE_DOCS=1 only)."""
    text = README.read_text()
    start, end = text.index(SCREEN_START) + len(SCREEN_START), text.index(SCREEN_END)
    body = "\n".join(line.rstrip() for line in screen.rstrip().splitlines())
    README.write_text(f"{text[:start]}\n```text\n{body}\n```\n{text[end:]}")


def test_real_terminal_under_tmux(
    pumping: PacketPump, packet_fixture: PacketFixture, tmp_path: Path
) -> None:
    term = Terminal(f"{PHYDEV} top --interval 0.5 --bpf-dir {packet_fixture.bpf_dir}",
                    tmp_path / "rc", 150, 34)  # fmt: skip
    try:
        pid = term.command_pid()
        screen = term.wait_for("kernel", "stats:", PROG_NAME, "Events/s")
        header = screen.splitlines()[0]
        assert os.uname().release in header and "programs" in header and "maps" in header
        row = next(line for line in screen.splitlines() if PROG_NAME in line)
        assert str(pumping.prog_id) in row and "SocketFilter" in row
        assert "held by phydev top" in screen or "kernel.bpf_stats_enabled=1" in screen
        assert holds_stats_fd(pid)
        term.keys(*["Up"] * 40, "Enter")  # the top row's details
        screen = term.wait_for("attached:", "maps:", "history")
        if os.environ.get("DEVAGENT_UPDATE_DOCS") == "1":
            update_readme(screen)
        term.keys("q")
        assert term.exit_status() == 0, term.screen()
        assert not Path(f"/proc/{pid}").exists() or not holds_stats_fd(pid)
    finally:
        term.close()
