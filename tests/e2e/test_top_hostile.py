"""`phydev top` against what it must not trust: a process that names itself with Rich markup
and terminal escapes (shown as text in the real full-screen view), and a hostile agent for
`--agent` (a huge answer, a trickle, wrong shapes, not JSON): one line on stderr, exit status
1, no traceback, bounded memory and time; the full-screen view shows the error in its status
line and keeps polling. A crash inside the full-screen view exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.terminal import PHYDEV, Terminal
from tests.hostile_agent import (
    HOST,
    PROGRAM,
    Flood,
    Handler,
    HostileAgent,
    answer,
    raw,
    trickle,
    valid_answer,
)

MiB = 1 << 20


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_kib: int


def run_top(url: str, *args: str, tmp_path: Path, limit: float = 60.0) -> Outcome:
    """`phydev top --agent URL --json --count 1 ARGS` with its peak memory (wait4 on its pid)
    and wall time; killed (by pid) after `limit` seconds, which fails the test."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as o, err.open("w") as e:
        started = time.monotonic()
        proc = subprocess.Popen([PHYDEV, "top", "--agent", url, "--json", "--count", "1", *args],
                                stdout=o, stderr=e, stdin=subprocess.DEVNULL)  # fmt: skip
        killer = threading.Timer(limit, os.kill, (proc.pid, 9))
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert seconds < limit, f"still running after {limit} s"
    return Outcome(proc.returncode, out.read_text(), err.read_text(), seconds, usage.ru_maxrss)


def one_line_error(outcome: Outcome, *fragments: str) -> str:
    """The outcome is exit status 1 and one line on stderr naming the agent and `fragments`."""
    assert outcome.returncode == 1, outcome
    assert "Traceback" not in outcome.stderr, outcome.stderr
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, outcome.stderr
    line = lines[0]
    assert line.startswith("phydev top: the agent at http://127.0.0.1:"), line
    for fragment in fragments:
        assert fragment in line, line
    assert "\x1b" not in line  # what the agent sent is never written raw to a terminal
    return line


@pytest.fixture
def agent() -> Iterator[HostileAgent]:
    server = HostileAgent(answer(valid_answer()))
    yield server
    server.close()


def test_a_valid_fake_answer_is_shown(agent: HostileAgent, tmp_path: Path) -> None:
    outcome = run_top(agent.url, tmp_path=tmp_path)
    assert outcome.returncode == 0, outcome
    (line,) = outcome.stdout.splitlines()
    assert json.loads(line)["programs"][0]["name"] == "fake_prog"


def _data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {"host": dict(HOST), "programs": [dict(PROGRAM)]}
    data.update(changes)
    return {"data": data}


DEEP = 200_000
WRONG: dict[str, tuple[Handler, str]] = {
    "programs-not-a-list": (answer(_data(programs={"id": 1})), "programs is not a list"),
    "host-null": (answer(_data(host=None)), "host is not an object"),
    "nested-200000-deep": (raw(b"[" * DEEP + b"]" * DEEP), "is not JSON"),
    "nested-inside-data": (
        raw(b'{"data": {"host": ' + b"[" * DEEP + b"]" * DEEP + b"}}"), "is not JSON"),
    "not-json": (raw(b"<html>hello</html>", ctype="text/html"), "is not JSON"),
    "not-utf8": (raw(b'{"data": "\xff\xfe"}'), "is not JSON"),
    "a-list": (answer([1, 2]), "not an object"),
    "data-null": (answer({"data": None}), "data is not an object"),
    "id-a-string": (answer(_data(programs=[{**PROGRAM, "id": "7"}])),
                    "programs[0].id is not an integer"),
    "id-too-big": (raw(b'{"data": {"programs": [{"id": 1e400}]}}'), "is not JSON"),
    "comm-a-number": (
        answer(_data(programs=[{**PROGRAM, "owners": [{"pid": 1, "comm": 5}]}])),
        "programs[0].owners[0].comm is not a string"),
    "rate-a-bool": (answer(_data(programs=[{**PROGRAM, "cpuPercent": True}])),
                    "programs[0].cpuPercent is not a number"),
    "error-with-escapes": (answer({"errors": [{"message": "boom\x1b[2J\nsecond line"}]}),
                           "boom\\x1b[2J\\nsecond line"),
    "errors-of-a-wrong-shape": (answer({"errors": [[[1]]]}), "errors"),
    "http-500": (raw(b"<html>oops</html>", status="500 Oops", ctype="text/html"), "HTTP 500"),
    "garbage-status-line": (lambda conn, _stop: conn.sendall(b"HELLO\r\n\r\n"), "HTTP"),
    "cut-short": (lambda conn, _stop: conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}"), "cut short"),
    "closed-without-answer": (lambda conn, _stop: None, "closed the connection"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_answers_give_one_line(agent: HostileAgent, tmp_path: Path, case: str) -> None:
    agent.handler, fragment = WRONG[case]
    outcome = run_top(agent.url, tmp_path=tmp_path)
    one_line_error(outcome, fragment)
    assert outcome.seconds < 15 and outcome.stdout == ""


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "until-close"])
def test_a_huge_answer_is_cut_off(agent: HostileAgent, tmp_path: Path, declare: bool) -> None:
    """512 MiB offered: top stops reading past --max-answer-bytes (64 MiB by default) and its
    peak memory stays near that, where it used to reach 1 GiB. Peaks are compared with the
    same command's peak on a small valid answer: a child's ru_maxrss counts what it shared
    with the forking test process before exec, which varies with the suite's own size."""
    agent.handler = raw(json.dumps(valid_answer()).encode())
    baseline = run_top(agent.url, tmp_path=tmp_path)
    assert baseline.returncode == 0, baseline
    flood = Flood(512 * MiB, declare)
    agent.handler = flood
    outcome = run_top(agent.url, tmp_path=tmp_path)
    one_line_error(outcome, "more than 64 MiB", "--max-answer-bytes")
    assert outcome.seconds < 15
    grew = outcome.max_rss_kib - baseline.max_rss_kib
    assert grew < 180 * 1024, (outcome.max_rss_kib, baseline.max_rss_kib)
    assert flood.sent < 128 * MiB  # top hung up
    if declare:  # the declared length alone is enough to refuse
        assert grew < 40 * 1024, (outcome.max_rss_kib, baseline.max_rss_kib)


def test_max_answer_bytes_is_the_bound(agent: HostileAgent, tmp_path: Path) -> None:
    body = json.dumps(valid_answer()).encode()
    agent.handler = raw(body)
    fits = run_top(agent.url, "--max-answer-bytes", str(len(body)), tmp_path=tmp_path)
    assert fits.returncode == 0, fits
    short = run_top(agent.url, "--max-answer-bytes", str(len(body) - 1), tmp_path=tmp_path)
    one_line_error(short, f"more than {len(body) - 1} bytes")


def test_a_trickle_ends_at_the_deadline(agent: HostileAgent, tmp_path: Path) -> None:
    """One byte every 3 s never trips a socket timeout; the deadline of the whole request
    (--agent-timeout, 10 s by default) ends it."""
    agent.handler = trickle(json.dumps(valid_answer()).encode(), every=3.0)
    outcome = run_top(agent.url, tmp_path=tmp_path)
    one_line_error(outcome, "no complete answer within 10 s", "--agent-timeout")
    assert 9 < outcome.seconds < 20


def test_a_trickled_status_line_ends_at_the_deadline(agent: HostileAgent, tmp_path: Path) -> None:
    agent.handler = trickle(b"{}", every=0.5, headers_too=True)
    outcome = run_top(agent.url, "--agent-timeout", "2", tmp_path=tmp_path)
    one_line_error(outcome, "no complete answer within 2 s")
    assert outcome.seconds < 8


# ---------------------------------------------------------------- the full-screen view


def test_full_screen_shows_agent_errors_and_keeps_polling(
    agent: HostileAgent, tmp_path: Path
) -> None:
    shown = valid_answer()
    program = shown["data"]["programs"][0]
    program["fullName"] = "[bold]x[/]"  # an agent may send any string
    program["owners"] = [{"pid": 42, "comm": "[/]\x1b[2J"}]
    agent.handler = answer(shown)
    term = Terminal(f"{PHYDEV} top --agent {agent.url} --interval 0.3", tmp_path / "rc", 160, 30)
    try:
        term.wait_for("fake-agent", "[bold]x[/]", "[/]\\x1b[2J[42]")
        agent.handler = answer(_data(programs={"id": 1}))
        term.wait_for("error: the agent at", "programs is not a list")
        seen = agent.requests
        agent.wait_requests(seen + 3)  # still polling
        screen = term.wait_for("programs is not a list")
        assert "[bold]x[/]" in screen  # the last good frame stays
        agent.handler = answer(shown)
        deadline = time.monotonic() + 15
        while "programs is not a list" in term.screen():
            assert time.monotonic() < deadline, term.screen()
            time.sleep(0.2)
        term.keys("q")
        assert term.exit_status() == 0, term.screen()
    finally:
        term.close()


CHILD = """
import ctypes, sys
from devagent.bpf.names import PROG_TYPE_IDS
from devagent.bpf.objects import program_info
from devagent.bpf.progs import load_program, return_imm
prog = load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0), name="markup_owner")
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(15, ctypes.c_char_p(sys.argv[1].encode("latin-1")), 0, 0, 0) == 0  # PR_SET_NAME
print(program_info(prog).id, flush=True)
sys.stdin.read()
"""


def test_a_process_named_with_markup_is_shown_as_text(tmp_path: Path) -> None:
    """A process can name itself anything (prctl PR_SET_NAME): `[/]` is a Rich closing tag
    with nothing to close, ESC [2J would clear the screen, \\xff is not UTF-8. The owner
    column shows all of it as text, escaped; the view neither crashes nor is cleared."""
    name = "[/]\x1b[2J\xff"
    child = subprocess.Popen([sys.executable, "-c", CHILD, name], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    term = None
    try:
        assert child.stdout is not None
        prog_id = int(child.stdout.readline())
        term = Terminal(f"{PHYDEV} top --interval 0.5", tmp_path / "rc", 200, 40)
        term.wait_for("Events/s", "stats:")
        term.keys("/")
        term.wait_for("filter by name")  # the box has the focus: type into it
        term.keys("markup_owner")
        term.wait_for("filter: markup_owner")
        term.keys("Enter")
        owner = f"[/]\\x1b[2J\\xff[{child.pid}]"
        screen = term.wait_for(str(prog_id), "markup_owner", owner)
        assert "Traceback" not in screen and "MarkupError" not in screen
        term.keys("Enter")  # its detail pane: owners again
        screen = term.wait_for("owners:   " + owner)
        term.keys("q")
        assert term.exit_status() == 0, term.screen()
    finally:
        if term is not None:
            term.close()
        child.kill()
        child.wait()


CRASH = """
import sys
from devagent.cli import main
from devagent.cli.top.local import LocalSource
def broken(self):
    raise ZeroDivisionError("a bug inside the full-screen view")
LocalSource.refresh = broken
sys.argv = ["phydev", "top", "--interval", "0.3"]
main()
"""


def test_a_crash_in_the_full_screen_view_exits_non_zero(tmp_path: Path) -> None:
    """Textual prints the traceback when the screen is gone; the exit status says so too."""
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    term = Terminal(f"{sys.executable} {script}", tmp_path / "rc", 160, 40)
    try:
        status = term.exit_status(30)
        assert status == 1, (status, term.screen())
        assert "a bug inside the full-screen view" in term.screen()
    finally:
        term.close()
