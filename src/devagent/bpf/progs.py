"""Loading small programs from raw instructions (BPF_PROG_LOAD).

Tests and benchmarks use this to create real kernel objects (e.g. a thousand programs that
each use a map) without a compiler. The agent itself loads one program only: the iterator
that reads every program's run counters in one read() (devagent.bpf.iter.programs).
"""

from __future__ import annotations

import ctypes
import struct

from . import _sys
from ._sys import Cmd
from .errors import BPFError, VerifierRejected
from .handles import Fd
from .insns import ALU64, EXIT, JMP, LD_IMM64, MOV, PSEUDO_MAP_FD, K


class ProgLoadAttr(ctypes.Structure):
    _fields_ = (
        ("prog_type", _sys.u32),
        ("insn_cnt", _sys.u32),
        ("insns", _sys.u64),
        ("license", _sys.u64),
        ("log_level", _sys.u32),
        ("log_size", _sys.u32),
        ("log_buf", _sys.u64),
        ("kern_version", _sys.u32),
        ("prog_flags", _sys.u32),
        ("prog_name", ctypes.c_char * _sys.OBJ_NAME_LEN),
        ("prog_ifindex", _sys.u32),
        ("expected_attach_type", _sys.u32),
        ("prog_btf_fd", _sys.u32),
        ("func_info_rec_size", _sys.u32),
        ("func_info", _sys.u64),
        ("func_info_cnt", _sys.u32),
        ("line_info_rec_size", _sys.u32),
        ("line_info", _sys.u64),
        ("line_info_cnt", _sys.u32),
        ("attach_btf_id", _sys.u32),
    )


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One struct bpf_insn (8 bytes)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def return_imm(value: int, map_fds: tuple[int, ...] = ()) -> bytes:
    """`r0 = value; exit`, preceded by one `r1 = map` load per map fd so that the kernel
    records those maps as used by the program (they show in its map_ids)."""
    code = b""
    for fd in map_fds:
        code += insn(LD_IMM64, dst=1, src=PSEUDO_MAP_FD, imm=fd) + insn(0)
    return code + insn(ALU64 | MOV | K, dst=0, imm=value) + insn(JMP | EXIT)


def load_program(
    prog_type: int,
    insns: bytes,
    *,
    name: str = "",
    license: str = "GPL",
    expected_attach_type: int = 0,
    attach_btf_id: int = 0,
) -> Fd:
    """Load a program; a verifier rejection raises VerifierRejected with the last lines of
    the verifier's log, any other failure the BPFError of its errno.
    `attach_btf_id` names the kernel function a tracing program (e.g. an iterator) is for."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(64 * 1024)
    attr = ProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(insns) // 8,
        insns=_sys.addr(code),
        license=_sys.addr(lic),
        log_level=1,
        log_size=len(log),
        log_buf=_sys.addr(log),
        prog_name=name.encode()[: _sys.OBJ_NAME_LEN - 1],
        expected_attach_type=expected_attach_type,
        attach_btf_id=attach_btf_id,
    )
    try:
        return Fd(_sys.bpf(Cmd.PROG_LOAD, attr, what=f"load program {name!r}"))
    except BPFError as exc:
        verifier = log.value.decode("utf-8", "replace").strip()
        if not verifier:
            raise
        raise VerifierRejected(
            exc.errno or 0, exc.op, exc.what, verifier_rejection(verifier)
        ) from None


def verifier_rejection(log: str, lines: int = 3) -> str:
    """What to say of a rejected program: the verifier's last lines (its reason is last;
    the processed-instructions summary, when there, is dropped)."""
    kept = [line for line in log.splitlines() if line.strip()]
    if kept and kept[-1].startswith("processed "):
        kept.pop()
    return "the verifier rejected the program: " + " | ".join(kept[-lines:])
