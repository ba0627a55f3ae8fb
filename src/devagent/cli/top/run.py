"""The body of `phydev top`: pick the source and the output, and make every way out (q,
end of --count, SIGINT, SIGTERM, a crash) close the source, which releases the stats fd.
A crash of the full-screen view exits with its non-zero status, never 0."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from types import FrameType

from .frame import Source

EXIT_GRACE = 5.0  # seconds the full-screen mode may take to exit after the app is closed


class Stop(Exception):
    """Raised by the signal handlers of JSON mode: unwinds to close the source."""


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signum)


def make_source(
    agent: str | None,
    token: str | None,
    bpf_dir: str,
    interval: float,
    enable_stats: bool,
    program_iterator: bool = True,
    agent_timeout: float | None = None,
    max_answer_bytes: int | None = None,
    fleet: bool = False,
) -> Source:
    if agent:
        from . import remote
        from .fleet import FleetSource

        return (FleetSource if fleet else remote.RemoteSource)(
            agent,
            token,
            timeout=agent_timeout or remote.TIMEOUT,
            max_bytes=max_answer_bytes or remote.MAX_BYTES,
        )
    from .local import LocalSource

    if program_iterator:
        from ...bpf.iter.walkers import walkers

        walkers.start()
    source = LocalSource(bpf_dir, interval=interval, enable_stats=enable_stats)
    if source.stats_problem is not None:
        from ..output import say

        say(f"warning: cannot turn run statistics on: {source.stats_problem}")
    return source


def run_top(
    source: Source, interval: float, count: int | None, as_json: bool, show_agent: bool = False
) -> None:
    """Run until done; the source is closed on every path out. The agent's own programs
    are shown only with `show_agent` (the full-screen view toggles them with `a`)."""
    try:
        if as_json or not sys.stdout.isatty():
            previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                from .jsonl import run_json

                run_json(source, interval, count, show_agent)
            except Stop:
                pass
            except BrokenPipeError:
                # The reader (head, jq) has gone: stop quietly, as `inspect maps dump` does.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
        else:
            from .app import run_app

            status = run_app(source, interval, count, show_agent)
            # The screen is gone; a refresh still running in a worker thread must not keep
            # the process alive. Should exiting take longer than this, say where it is stuck
            # (stderr) and leave anyway: the kernel closes the stats fd with the process.
            faulthandler.dump_traceback_later(EXIT_GRACE, exit=True)
            if status:
                raise SystemExit(status)  # a crash: Textual has printed its traceback
    finally:
        source.close()
