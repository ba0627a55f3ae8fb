"""`inspect progs run` on long runs: progress on the terminal, Ctrl-C and --timeout honoured.

The runs are made in slices of at most 0.1 s (bpf.replay_slices), so a run of hours (a slow
program, a big --repeat) shows how far it got and when it should end, and Ctrl-C stops it
within a slice, saying how many runs were made (they may have changed the program's maps).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from ..bpf.replay_slices import STOP_SIGNAL, seconds_text
from .output import say

if TYPE_CHECKING:
    from typing import NoReturn

    from ..bpf.replay_slices import SlicedRun

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
# Progress shows once the runs have gone on this long (shorter runs print nothing more).
SHOW_AFTER = 1.0


class RunProgress:
    """Told after each slice (bpf.replay_slices.Progress); draws one line on a terminal's
    stderr and remembers how many runs were made, for the message when Ctrl-C stops them."""

    def __init__(self) -> None:
        self.runs = 0
        self.requested = 0
        self.start = time.monotonic()
        self.shown = False
        self.tty = sys.stderr is not None and sys.stderr.isatty()

    def __call__(self, runs: int, requested: int, per_run: float) -> None:
        self.runs, self.requested = runs, requested
        if not self.tty or time.monotonic() - self.start < SHOW_AFTER:
            return
        left = seconds_text((requested - runs) * per_run)
        sys.stderr.write(f"\r\x1b[Kphydev: {runs} of {requested} runs, about "
                         f"{seconds_text(per_run)} a run, {left} left (Ctrl-C stops)")  # fmt: skip
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False

    def interrupted(self) -> NoReturn:
        """Ctrl-C: say how far the runs got and exit 130."""
        self.clear()
        say(f"stopped by Ctrl-C after {self.runs} of {self.requested} runs (and part of the "
            "next slice of runs, if one was under way); the program's maps saw them")  # fmt: skip
        sys.exit(EXIT_INTERRUPTED)


def stopped_early(run: SlicedRun, progress: RunProgress) -> None:
    """Exit with the reason when the runs did not all happen (a signal, e.g. Ctrl-C, broke
    the last slice)."""
    if run.stopped == STOP_SIGNAL:
        progress.runs, progress.requested = run.runs, run.requested
        progress.interrupted()
