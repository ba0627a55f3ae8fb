"""testRun against a real `phydev server --allow-writes` on a slow program (tests/bpf/slow.bpf.c):
the answer comes within --query-timeout, SIGTERM stops the server during a long run, and at
most two test runs go on at once. A run of 1,000,000 repeats at ~20 ms a run lasted hours (one
BPF_PROG_TEST_RUN cannot be stopped), past the timeout, and kept the server up until SIGKILL."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devagent.bpf.handles import open_program
from devagent.bpf.objects import program_info
from tests.conftest import PhydevServer
from tests.e2e.test_graphql_server import post
from tests.kernel.test_replay import udp_packet
from tests.kernel.test_replay_slices import SlowProgram, slow_program

__all__ = ["slow_program"]  # the fixture, used here

TEST_RUN = """mutation($id: Int!, $data: String!, $repeat: Int) {
  testRun(programId: $id, dataIn: $data, repeat: $repeat) { retval durationNs dataOut runs error }
}"""
PACKET = udp_packet().hex()
SLACK = 1.5  # seconds beyond the timeout: a loaded machine, the HTTP round trip


@pytest.fixture(scope="module")
def timed_agent(slow_program: SlowProgram) -> Iterator[PhydevServer]:
    server = PhydevServer("--allow-writes", "--query-timeout", "2",
                          bpf_dir=str(slow_program.mount.path))  # fmt: skip
    server.wait_ready()
    yield server
    server.stop()


def timed_run(server: PhydevServer, prog_id: int, repeat: int) -> tuple[float, dict[str, Any]]:
    """(seconds the answer took, the TestRunResult)."""
    start = time.monotonic()
    status, body = post(server, TEST_RUN, {"id": prog_id, "data": PACKET, "repeat": repeat})
    assert status == 200 and "errors" not in body, body
    return time.monotonic() - start, body["data"]["testRun"]


def repeat_for(slow: SlowProgram, seconds: float) -> int:
    return min(1_000_000, max(2, int(seconds * 1e9 / slow.per_run_ns)))


def test_runs_past_the_timeout_are_refused_in_time(
    timed_agent: PhydevServer, slow_program: SlowProgram
) -> None:
    took, result = timed_run(timed_agent, slow_program.prog_id, 1_000_000)
    assert took < 2 + SLACK, took
    error = result["error"]
    assert error is not None and "a run" in error and "--query-timeout 2 s" in error, error
    assert "runs fit" in error and result["retval"] is None
    assert result["runs"] >= 1  # the measure ran it: the answer says so
    fits = int(error.split("at most ")[1].split(" runs fit")[0])
    assert 1 <= fits < 1_000_000
    # Half of what fits runs in full, within the timeout.
    repeat = max(1, fits // 2)
    took, result = timed_run(timed_agent, slow_program.prog_id, repeat)
    assert result["error"] is None and result["runs"] == repeat, result
    assert took < 2 + SLACK and result["durationNs"] > 0


def test_sigterm_during_a_long_run_stops_the_server(slow_program: SlowProgram) -> None:
    server = PhydevServer("--allow-writes", "--query-timeout", "120",
                          bpf_dir=str(slow_program.mount.path))  # fmt: skip
    answers: list[tuple[int, dict[str, Any]]] = []
    try:
        server.wait_ready()
        variables = {"id": slow_program.prog_id, "data": PACKET,
                     "repeat": repeat_for(slow_program, 20)}  # fmt: skip

        def long_run() -> None:
            # the server going away without an answer is acceptable too
            with contextlib.suppress(OSError):
                answers.append(post(server, TEST_RUN, variables))

        thread = threading.Thread(target=long_run, daemon=True)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive(), answers  # the run is under way
        start = time.monotonic()
        server.proc.terminate()
        server.proc.wait(timeout=5)  # before: it ran on until SIGKILL
        assert time.monotonic() - start < 5
        thread.join(5)
        for status, body in answers:
            assert status == 503 and "shutting down" in body["errors"][0]["message"], body
    finally:
        server.stop()


def test_a_client_leaving_stops_the_runs(slow_program: SlowProgram) -> None:
    """The client closes its connection during a long run: the runs stop within a slice
    (the kernel's run count of the program stops moving)."""

    def run_count() -> int:
        with open_program(slow_program.prog_id) as fd:
            return program_info(fd).run_count

    server = PhydevServer("--allow-writes", "--query-timeout", "120",
                          bpf_dir=str(slow_program.mount.path))  # fmt: skip
    try:
        server.wait_ready()
        variables = {"id": slow_program.prog_id, "data": PACKET,
                     "repeat": repeat_for(slow_program, 20)}  # fmt: skip
        body = json.dumps({"query": TEST_RUN, "variables": variables}).encode()
        head = (
            f"POST /query HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head.encode() + body)
            time.sleep(1.0)
            first = run_count()
            time.sleep(0.3)
            assert run_count() > first  # under way
        time.sleep(0.5)  # the disconnect is seen, the slice under way ends
        settled = run_count()
        time.sleep(0.5)
        assert run_count() == settled  # before: it ran on for the whole 20 s
    finally:
        server.stop()


def test_at_most_two_test_runs_at_once(slow_program: SlowProgram) -> None:
    """Four runs of ~3 s asked at once: two run, two are turned away at once (they wait
    0.5 s for a turn), whichever order they arrive in."""
    server = PhydevServer("--allow-writes", "--query-timeout", "60",
                          bpf_dir=str(slow_program.mount.path))  # fmt: skip
    try:
        server.wait_ready()
        assert timed_run(server, slow_program.prog_id, 1)[1]["error"] is None  # warm
        repeat = repeat_for(slow_program, 3)
        results: list[tuple[float, dict[str, Any]]] = []

        def one() -> None:
            results.append(timed_run(server, slow_program.prog_id, repeat))

        threads = [threading.Thread(target=one, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ran = [r for _, r in results if r["error"] is None]
        refused = [(took, r) for took, r in results if r["error"] is not None]
        assert len(ran) == 2 and [r["runs"] for r in ran] == [repeat, repeat], results
        assert len(refused) == 2, results
        for took, result in refused:
            assert "too many test runs at once: 2 are running" in result["error"], result
            assert result["runs"] == 0 and result["retval"] is None and took < 2.5
        # once they ended, the next one runs
        assert timed_run(server, slow_program.prog_id, 1)[1]["error"] is None
    finally:
        server.stop()
