"""Test runs in slices (bpf.replay_slices) on real programs: a slow one (tests/bpf/slow.bpf.c,
~20 ms a run with bpf_loop; ~50 us a run in its build for kernels without bpf_loop) and a
fast one (`r0 = 0; exit`). One BPF_PROG_TEST_RUN with repeat N cannot be stopped: the slices
are what make a deadline and a stop request count."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devagent.bpf.handles import open_program
from devagent.bpf.objects import program_info
from devagent.bpf.progs import load_program, return_imm
from devagent.bpf.replay_slices import (
    CALIBRATION_SECONDS,
    SLICE_SECONDS,
    STOP_ASKED,
    STOP_DEADLINE,
    TooSlow,
    run_in_slices,
    run_program_in_slices,
)
from tests.conftest import (
    BpffsMount,
    StatsHold,
    build_bpf,
    load_object,
    require_kernel,
)
from tests.kernel.test_replay import udp_packet

SOCKET_FILTER = 1
PACKET = udp_packet()


@dataclass
class SlowProgram:
    """slow.bpf.c's socket filter, loaded and pinned in a private bpffs. `compat`: the
    kernel has no bpf_loop (before 5.17), so the bounded-loop build is loaded: ~50 us a run,
    still far too slow for a million runs in 2 s."""

    prog_id: int
    mount: BpffsMount
    compat: bool
    per_run_ns: int  # measured when loaded, over 3 runs


@pytest.fixture(scope="session")
def slow_program(build_dir: Path, stats_enabled: StatsHold) -> Iterator[SlowProgram]:
    require_kernel()
    from devagent.bpf.features import Probe

    helpers = Probe().enum_names("bpf_func_id")
    compat = helpers is not None and "BPF_FUNC_loop" not in helpers
    mount = BpffsMount()
    try:
        name = "slow-compat.bpf.o" if compat else "slow.bpf.o"
        (mount.path / "slow" / "maps").mkdir(parents=True)  # it has none: bpftool makes none
        obj = load_object(build_bpf(name, build_dir), mount, "slow")
        prog_id = obj.prog_ids["slow_filter"]
        measured = run_program_in_slices(prog_id, PACKET, 3)
        assert measured.duration_ns
        yield SlowProgram(prog_id, mount, compat, measured.duration_ns)
    finally:
        mount.close()


def test_slow_program_is_slow(slow_program: SlowProgram) -> None:
    """The premise of the tests below: a million runs would take far longer than seconds
    (bpf_loop: ~20 ms a run; without it, the degraded build, ~50 us)."""
    least = 20_000 if slow_program.compat else 1_000_000
    assert slow_program.per_run_ns > least, slow_program


def test_runs_that_cannot_fit_are_refused_after_a_short_measure(
    slow_program: SlowProgram,
) -> None:
    start = time.monotonic()
    with pytest.raises(TooSlow) as caught:
        run_program_in_slices(slow_program.prog_id, PACKET, 1_000_000,
                              deadline=time.monotonic() + 1.0)  # fmt: skip
    took = time.monotonic() - start
    exc = caught.value
    assert took < 1.0, took  # the measure takes ~10 ms of runs (one run when a run is longer)
    assert 1 <= exc.runs < exc.fits < 1_000_000
    # the runs that fit take at most the time left, as measured
    assert exc.fits * exc.per_run <= 1.0
    message = str(exc)
    assert f"program {slow_program.prog_id} takes about" in message and "a run" in message
    assert "1000000 runs would take about" in message


def test_runs_that_fit_all_happen_in_slices(slow_program: SlowProgram) -> None:
    """Counted by the kernel: the program's run count moves by exactly `repeat`."""
    with open_program(slow_program.prog_id) as fd:
        before = program_info(fd).run_count
        repeat = max(2, int(0.4e9 / slow_program.per_run_ns))  # ~0.4 s of runs
        told: list[tuple[int, float]] = []  # (runs done, seconds a run so far) per slice
        run = run_in_slices(fd, slow_program.prog_id, SOCKET_FILTER, PACKET, repeat,
                            deadline=time.monotonic() + 30,
                            on_slice=lambda done, _req, per: told.append((done, per)))  # fmt: skip
        assert run.stopped is None and run.runs == repeat
        assert program_info(fd).run_count == before + repeat
    assert len(told) >= 2 and told[-1][0] == repeat
    # each slice holds at most SLICE_SECONDS of runs, as measured before it (a run or more);
    # the count of slices itself depends on how fast the machine is (TCG guests vary)
    for (done_before, per_run), (done, _) in itertools.pairwise(told):
        assert done - done_before <= max(1, int(SLICE_SECONDS / per_run)), told
    assert run.retval in (0, 1) and run.data_out is not None and run.data_out[14:] == PACKET[14:]
    assert run.duration_ns is not None
    # the kernel's time a run, weighted over the slices, against the wall clock's (the first
    # runs of a cold program may be several times slower: the fixture's 3-run measure is not
    # a reference under emulation)
    wall_ns = told[-1][1] * 1e9
    assert 0.25 < run.duration_ns / wall_ns < 1.5, (run.duration_ns, wall_ns)


def test_a_fast_program_runs_a_million_times_in_few_slices(stats_enabled: StatsHold) -> None:
    fd = load_program(SOCKET_FILTER, return_imm(7), name="fast_filter")
    with fd:
        before = program_info(fd).run_count
        slices: list[int] = []
        run = run_in_slices(fd, 0, SOCKET_FILTER, PACKET, 1_000_000,
                            deadline=time.monotonic() + 10,
                            on_slice=lambda done, _req, _per: slices.append(done))  # fmt: skip
        assert run.stopped is None and run.runs == 1_000_000 and run.retval == 7
        assert program_info(fd).run_count == before + 1_000_000
        assert len(slices) < 20, slices


def test_stop_between_slices(slow_program: SlowProgram) -> None:
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= 3

    start = time.monotonic()
    run = run_program_in_slices(slow_program.prog_id, PACKET, 1_000_000,
                                should_stop=should_stop)  # fmt: skip
    assert time.monotonic() - start < 2.0  # three slices of at most 0.1 s, on a busy machine
    assert run.stopped == STOP_ASKED and 2 <= run.runs < 1_000_000
    assert run.retval is not None and run.duration_ns is not None


def test_runs_slower_than_measured_stop_at_the_deadline(slow_program: SlowProgram) -> None:
    """The measure said they fit; then time ran out faster (a clock pushed to just before the
    deadline, as a machine suddenly loaded would look): the runs stop with what they made."""
    shift = [0.0]
    deadline = time.monotonic() + 30

    def clock() -> float:
        return time.monotonic() + shift[0]

    measured = [False]

    def on_slice(done: int, _requested: int, per_run: float) -> None:
        # after the first slice that follows the measure (its fit check passed), not before:
        # on a slow machine the measure may take only a run or two
        if measured[0] and not shift[0]:
            shift[0] = deadline - time.monotonic() - 0.001
        measured[0] = measured[0] or done * per_run >= CALIBRATION_SECONDS

    repeat = max(10, int(0.5e9 / slow_program.per_run_ns))  # ~0.5 s: fits in 30 s
    with open_program(slow_program.prog_id) as fd:
        start = time.monotonic()
        run = run_in_slices(fd, slow_program.prog_id, SOCKET_FILTER, PACKET, repeat,
                            deadline=deadline, on_slice=on_slice, clock=clock)  # fmt: skip
    assert time.monotonic() - start < 2.0
    assert run.stopped == STOP_DEADLINE and 1 < run.runs < repeat, run
    assert run.data_out is not None and run.data_out[14:] == PACKET[14:]


def test_cli_shows_it_stops_on_ctrl_c(slow_program: SlowProgram, tmp_path: Path) -> None:
    """`inspect progs run` of a run of hours: Ctrl-C stops it at once, saying how many runs
    were made, exit 130 (it was one syscall the signal broke, then click's "Aborted!")."""
    packet = tmp_path / "packet.bin"
    packet.write_bytes(PACKET)
    phydev = Path(sys.executable).parent / "phydev"
    proc = subprocess.Popen(
        [str(phydev), "inspect", "progs", "run", str(slow_program.prog_id), "--data-in",
         str(packet), "--repeat", "1000000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "stopped by Ctrl-C after" in err and "of 1000000 runs" in err, err
    assert "Traceback" not in err and out == ""


def test_cli_timeout_refuses_what_cannot_fit(slow_program: SlowProgram, tmp_path: Path) -> None:
    packet = tmp_path / "packet.bin"
    packet.write_bytes(PACKET)
    phydev = Path(sys.executable).parent / "phydev"
    start = time.monotonic()
    result = subprocess.run(
        [str(phydev), "inspect", "progs", "run", str(slow_program.prog_id), "--data-in",
         str(packet), "--repeat", "1000000", "--timeout", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert time.monotonic() - start < 5
    assert result.returncode == 1, result
    assert "runs fit" in result.stderr and "--timeout" in result.stderr, result.stderr
