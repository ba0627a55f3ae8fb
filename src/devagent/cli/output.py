"""Writing command output to stdout, with one clear line when stdout cannot take it.

Started with stdout closed (`phydev ... >&-`), Python sets sys.stdout to None: click.echo then
prints nothing and exits 0, and `sys.stdout.buffer` raises AttributeError. A reader that went
away (`| head`) ends the output quietly with status 141, as bpftool does; any other write error
(EBADF, ENOSPC, EIO) is one line on stderr and status 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..bpf.errors import BPFError, PermissionDenied, has_bpf_privileges, privilege_problem

if TYPE_CHECKING:
    from typing import BinaryIO, NoReturn

EXIT_BROKEN_PIPE = 141


def say(message: str) -> None:
    """One `phydev: ...` line on stderr (when there is a stderr). No click here: the
    listings' quick path (cli.quick) prints through this module without importing it."""
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"phydev: {message}\n")
            sys.stderr.flush()
        except OSError:
            pass


def fail(message: str) -> NoReturn:
    """One `phydev: ...` line on stderr and exit status 1, as for kernel errors."""
    say(message)
    sys.exit(1)


_fail = fail


@contextmanager
def kernel_errors() -> Iterator[None]:
    """Turn kernel failures into one clear line and a non-zero exit, never a traceback."""
    try:
        yield
    except BPFError as exc:
        if isinstance(exc, PermissionDenied) and not has_bpf_privileges():
            fail(f"not allowed to read eBPF objects: {privilege_problem()}")
        fail(str(exc))


def emit_json(value: object) -> None:
    """`value` as one line of JSON on stdout."""
    import orjson

    write_out([orjson.dumps(value) + b"\n"])


def stdout_buffer() -> BinaryIO:
    """sys.stdout's byte stream, or exit 1 with one line when stdout is closed."""
    if sys.stdout is None:
        _fail("standard output is closed: nothing can be printed")
    return sys.stdout.buffer


def _write(out: BinaryIO, piece: bytes | bytearray | memoryview | None) -> None:
    """Write one piece (None: flush), turning a failed write into the command's end."""
    try:
        if piece is None:
            out.flush()
        else:
            out.write(piece)
    except BrokenPipeError:
        # The reader (head, less) has gone: stop quietly. Point fd 1 at /dev/null so that the
        # interpreter's own flush at exit does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        _fail(f"cannot write to standard output: {exc.strerror or exc}")


def write_out(pieces: Iterable[bytes | bytearray | memoryview] | str) -> None:
    """Write text, or byte pieces as they come, to stdout and flush. Errors raised while
    producing the pieces (e.g. by the kernel) go to the caller untouched."""
    out = stdout_buffer()
    if isinstance(pieces, str):
        pieces = [pieces.encode("utf-8")]
    for piece in pieces:
        _write(out, piece)
    _write(out, None)
