"""Long test runs made in slices, so that a deadline and a request to stop are honoured.

One BPF_PROG_TEST_RUN with `repeat` N cannot be stopped from outside once it started: the
kernel checks only for a pending signal between runs (bpf_test_timer_continue), and then
answers -EINTR without saying how many runs were made. A slow program (a bpf_loop at 60 ms a
run) with the allowed 1,000,000 repeats would hold its thread for hours. So the runs are made
in slices:

1. measure: the first slice is one run; the next ones grow until CALIBRATION_SECONDS of runs
   give the time of one run. Wall-clock time, which is what a deadline sees: it includes the
   syscall and any preemption, where the kernel's `duration` leaves both out;
2. fit: when the runs left would not end before the deadline, refuse (TooSlow), naming the
   time of one run and how many runs fit. A partial result nobody asked for would be read as
   the answer to the question asked;
3. run the rest in slices of at most SLICE_SECONDS each; between slices, stop when asked to
   or when the next slice would end past the deadline (the measure was wrong: runs got
   slower). What was done is then reported, with why it stopped.

The answer is that of the last run (verdict, packet out) with the mean duration over all runs.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import BPFError
from .handles import Fd
from .replay import MAX_REPEAT, ReplayError, ReplayResult, program_to_run, replay_fd

SLICE_SECONDS = 0.1
CALIBRATION_SECONDS = 0.01
# Of the time left, the share the fit check counts on: runs vary, and the answer needs a moment.
FIT_SHARE = 0.9

STOP_ASKED = "asked to stop"
STOP_DEADLINE = "deadline"
STOP_SIGNAL = "interrupted by a signal"


@dataclass(frozen=True)
class SlicedRun:
    """What the runs gave: the last run's verdict and packet, the mean duration of one run
    over all of them (None when none ended), how many ran, and why they stopped early (None
    when all `requested` runs were made)."""

    retval: int | None
    duration_ns: int | None
    data_out: bytes | None
    runs: int
    requested: int
    stopped: str | None = None


class TooSlow(ReplayError):
    """The runs asked for cannot end before the deadline; `fits` is how many (in all,
    counting the `runs` already made to measure) would."""

    def __init__(
        self, prog_id: int, per_run: float, runs: int, requested: int, left: float, fits: int
    ) -> None:
        self.per_run, self.runs, self.requested, self.left, self.fits = (
            per_run, runs, requested, left, fits,
        )  # fmt: skip
        super().__init__(
            f"program {prog_id} takes about {seconds_text(per_run)} a run (measured over "
            f"{runs} run{'s' if runs != 1 else ''}): {requested} runs would take about "
            f"{seconds_text(per_run * requested)}, and {seconds_text(max(left, 0.0))} are left"
        )


def seconds_text(seconds: float) -> str:
    """A duration for people, to three significant digits: `61.2 ms`, `4.63 h`."""
    for unit, size in (("h", 3600.0), ("min", 60.0), ("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


Progress = Callable[[int, int, float], None]


def run_in_slices(
    fd: int | Fd,
    prog_id: int,
    prog_type: int,
    data: bytes,
    repeat: int,
    *,
    deadline: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_slice: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SlicedRun:
    """Run the program at `fd` `repeat` times on `data`, in slices (see the module).

    `deadline` is a `clock()` time; `should_stop` is asked between slices; `on_slice(runs
    done, requested, seconds a run)` is told after each. TooSlow when the runs do not fit
    before the deadline; ReplayError when the kernel refuses the run."""
    if not 1 <= repeat <= MAX_REPEAT:
        raise ReplayError(f"repeat must be between 1 and {MAX_REPEAT}, got {repeat}")
    runs, weighted_ns, wall = 0, 0, 0.0
    last: ReplayResult | None = None
    calibrated = False
    stopped: str | None = None
    while runs < repeat:
        count = 1
        if runs:
            if should_stop():
                stopped = STOP_ASKED
                break
            per_run = max(wall / runs, 1e-9)
            if not calibrated and wall >= CALIBRATION_SECONDS:
                calibrated = True
                if deadline is not None:
                    _check_fit(prog_id, per_run, runs, repeat, deadline - clock())
            target = SLICE_SECONDS if calibrated else CALIBRATION_SECONDS - wall
            count = max(1, int(target / per_run))
            if deadline is not None:
                count = min(count, int((deadline - clock()) / per_run))
                if count < 1:
                    stopped = STOP_DEADLINE
                    break
        count = min(count, repeat - runs)
        start = clock()
        try:
            last = replay_fd(fd, prog_id, prog_type, data, count)
        except BPFError as exc:
            if exc.errno != errno.EINTR:
                raise
            stopped = STOP_SIGNAL  # how many runs of this slice were made, the kernel does not say
            break
        wall += clock() - start
        runs += count
        weighted_ns += last.duration_ns * count
        if on_slice is not None:
            on_slice(runs, repeat, wall / runs)
    if last is None:
        return SlicedRun(None, None, None, 0, repeat, stopped)
    return SlicedRun(last.retval, weighted_ns // runs, last.data_out, runs, repeat, stopped)


def _check_fit(prog_id: int, per_run: float, runs: int, repeat: int, left: float) -> None:
    fits = runs + max(0, int(left * FIT_SHARE / per_run))
    if fits < repeat:
        raise TooSlow(prog_id, per_run, runs, repeat, left, fits)


def run_program_in_slices(
    prog_id: int,
    data: bytes,
    repeat: int,
    *,
    deadline: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_slice: Progress | None = None,
) -> SlicedRun:
    """run_in_slices on program `prog_id`; NotFound if there is no such program."""
    with program_to_run(prog_id) as (fd, prog_type):
        return run_in_slices(fd, prog_id, prog_type, data, repeat, deadline=deadline,
                             should_stop=should_stop, on_slice=on_slice)  # fmt: skip
