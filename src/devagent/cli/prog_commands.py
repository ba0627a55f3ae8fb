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
@json_option
def run_command(prog_id: int, data_in: Any, repeat: int, as_json: bool) -> None:
    """Run a program on a packet with BPF_PROG_TEST_RUN (as bpftool prog run does): its
    return value, the packet it leaves and the average run time. The run may write to the
    program's maps. With --json: {"retval", "durationNs", "dataOut" (hex)}."""
    from ..bpf.replay import ReplayError, replay

    with kernel_errors():
        try:
            result = replay(prog_id, data_in.read(), repeat)
        except ReplayError as exc:
            fail(str(exc))
    out = {"retval": result.retval, "durationNs": result.duration_ns,
           "dataOut": result.data_out.hex()}  # fmt: skip
    if as_json:
        emit_json(out)
    else:
        from .details import details_text

        click.echo(details_text(out), nl=False)
