"""Running a loaded program on given input (BPF_PROG_TEST_RUN), as `bpftool prog run` does.

The kernel runs the program `repeat` times on a packet built from the input and returns the
program's verdict, the packet as the program left it, and the average run time. Socket
filters, tc, XDP, cgroup skb, flow dissector, lwt and a few others support it; tracing
programs (tracepoints, kprobes) do not. A run can write to the program's maps.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from . import _sys
from .errors import BPFError, InvalidArgument, NotSupported
from .handles import Fd, open_program
from .names import prog_type_name

MAX_REPEAT = 1_000_000
_OUT_ROOM = 64 * 1024  # output room beyond the input: programs may grow the packet


class TestRunAttr(ctypes.Structure):
    """The `test` member of union bpf_attr."""

    __test__ = False  # not a pytest test class, whatever its name says
    _fields_ = (
        ("prog_fd", _sys.u32),
        ("retval", _sys.u32),
        ("data_size_in", _sys.u32),
        ("data_size_out", _sys.u32),
        ("data_in", _sys.u64),
        ("data_out", _sys.u64),
        ("repeat", _sys.u32),
        ("duration", _sys.u32),
        ("ctx_size_in", _sys.u32),
        ("ctx_size_out", _sys.u32),
        ("ctx_in", _sys.u64),
        ("ctx_out", _sys.u64),
        ("flags", _sys.u32),
        ("cpu", _sys.u32),
        ("batch_size", _sys.u32),
        ("_pad", _sys.u32),
    )


@dataclass(frozen=True)
class ReplayResult:
    """What one BPF_PROG_TEST_RUN gave back."""

    retval: int  # the program's return value (its verdict) as the C int it returned: -1, not
    # 4294967295 as bpftool prints it (TC_ACT_UNSPEC is -1)
    duration_ns: int  # average time of one run
    data_out: bytes  # the packet after the program ran


class ReplayError(Exception):
    """The run was refused; the message says why in the user's terms."""


def replay_fd(
    fd: int | Fd, prog_id: int, prog_type: int, data: bytes, repeat: int = 1
) -> ReplayResult:
    """Run the program at `fd` `repeat` times on `data`."""
    if not 1 <= repeat <= MAX_REPEAT:
        raise ReplayError(f"repeat must be between 1 and {MAX_REPEAT}, got {repeat}")
    data_in = ctypes.create_string_buffer(data, len(data))
    out = ctypes.create_string_buffer(len(data) + _OUT_ROOM)
    attr = TestRunAttr(
        prog_fd=int(fd),
        data_size_in=len(data),
        data_in=_sys.addr(data_in),
        data_size_out=len(out),
        data_out=_sys.addr(out),
        repeat=repeat,
    )
    kind = prog_type_name(prog_type)
    try:
        _sys.bpf(_sys.Cmd.PROG_TEST_RUN, attr, what=f"program {prog_id}")
    except NotSupported:
        raise ReplayError(
            f"program {prog_id} is {kind}: the kernel cannot test-run this program type "
            "(BPF_PROG_TEST_RUN supports socket filters, tc, XDP, cgroup skb and a few more)"
        ) from None
    except InvalidArgument as exc:
        raise ReplayError(
            f"program {prog_id} ({kind}): the kernel refused the input of {len(data)} bytes "
            f"({os.strerror(exc.errno or errno.EINVAL)}); packet programs need at least an "
            "Ethernet header (14 bytes) and at most about a page"
        ) from None
    except BPFError as exc:
        if exc.errno == errno.ENOSPC:
            raise ReplayError(
                f"program {prog_id}: the output is larger than {len(out)} bytes"
            ) from None
        raise
    retval = attr.retval - (1 << 32) if attr.retval & 0x80000000 else attr.retval
    return ReplayResult(retval, attr.duration, out.raw[: attr.data_size_out])


@contextmanager
def program_to_run(prog_id: int) -> Iterator[tuple[Fd, int]]:
    """Program `prog_id` opened, with its type (what a test run's errors name); NotFound if
    there is no such program. Shared by single runs and sliced runs (replay_slices)."""
    from .objects import program_info

    with open_program(prog_id) as fd:
        yield fd, program_info(fd, prog_id).type


def replay(prog_id: int, data: bytes, repeat: int = 1) -> ReplayResult:
    """Run program `prog_id` `repeat` times on `data`; NotFound if there is no such program,
    ReplayError when the kernel refuses the run (with the reason)."""
    with program_to_run(prog_id) as (fd, prog_type):
        return replay_fd(fd, prog_id, prog_type, data, repeat)
