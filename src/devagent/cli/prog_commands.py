"""`phydev inspect progs dump` and `phydev inspect progs run`: what a program does, shown
(its instructions) and tried (on a packet)."""

from __future__ import annotations

import sys
from typing import Any

import click

from .options import emit_json, fail, json_option, kernel_errors


@click.command("dump")
@click.argument("prog_id", type=int, metavar="ID")
@click.argument(
    "kind", type=click.Choice(["xlated", "jited"], case_sensitive=False), default="xlated"
)
@click.option("--opcodes", is_flag=True, help="Also print the bytes of each instruction.")
@click.option("--linum", is_flag=True, help="Add file, line and column to the source lines.")
@json_option
def dump_command(prog_id: int, kind: str, opcodes: bool, linum: bool, as_json: bool) -> None:
    """A program's instructions: xlated (what the verifier let run, as bpftool prints it)
    or jited (the machine code, disassembled with capstone)."""
    from ..bpf.jited import JitUnavailable
    from .insn_dump import dump_program

    with kernel_errors():
        try:
            out = dump_program(prog_id, kind.lower(), as_json=as_json, opcodes=opcodes, linum=linum)
        except JitUnavailable as exc:
            fail(str(exc))
    sys.stdout.buffer.write(out)


@click.command("run")
@click.argument("prog_id", type=int, metavar="ID")
@click.option(
    "--data-in",
    "data_in",
    type=click.File("rb"),
    required=True,
    help="The packet to run the program on (a file of raw bytes; - for stdin).",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 1_000_000),
    default=1,
    show_default=True,
    help="Run it this many times; the duration is the average.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Refuse runs that would not end within SECONDS (measured first, as the server's "
    "testRun does under --query-timeout). Default: run until done.",
)
@json_option
def run_command(
    prog_id: int, data_in: Any, repeat: int, timeout: float | None, as_json: bool
) -> None:
    """Run a program on a packet with BPF_PROG_TEST_RUN (as bpftool prog run does): its
    return value, the packet it leaves and the average run time. The run may write to the
    program's maps. Long runs show their progress on a terminal and stop on Ctrl-C (exit
    130). With --json: {"retval", "durationNs", "dataOut" (hex), "runs"}."""
    import time

    from ..bpf.replay import ReplayError
    from ..bpf.replay_slices import run_program_in_slices
    from .run_progress import RunProgress, stopped_early

    data = data_in.read()
    progress = RunProgress()
    deadline = None if timeout is None else time.monotonic() + timeout
    with kernel_errors():
        try:
            run = run_program_in_slices(prog_id, data, repeat, deadline=deadline,
                                        on_slice=progress)  # fmt: skip
        except ReplayError as exc:
            progress.clear()
            fail(f"{exc}{_fits(exc)}")
        except KeyboardInterrupt:
            progress.interrupted()
    progress.clear()
    stopped_early(run, progress)
    if run.stopped is not None:
        fail(f"stopped after {run.runs} of {repeat} runs: --timeout {timeout:g} s ran out "
             "(the runs got slower than measured)")  # fmt: skip
    out: dict[str, object] = {"retval": run.retval, "durationNs": run.duration_ns,
           "dataOut": (run.data_out or b"").hex(), "runs": run.runs}  # fmt: skip
    if as_json:
        emit_json(out)
    else:
        from .details import details_text

        click.echo(details_text(out), nl=False)


def _fits(exc: Exception) -> str:
    """What to do about runs refused as too slow for --timeout."""
    from ..bpf.replay_slices import TooSlow

    if not isinstance(exc, TooSlow):
        return ""
    times = f"{exc.runs} time{'s' if exc.runs != 1 else ''}"
    return (f" of --timeout: at most {exc.fits} runs fit; ask for fewer or allow more time "
            f"(the measure ran the program {times})")  # fmt: skip
