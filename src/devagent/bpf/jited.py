"""A program's JIT-compiled machine code, disassembled with capstone (optional at run time).

The kernel hands out the images of all the program's functions back to back
(`jited_prog_insns`), with each function's start address (`jited_ksyms`) and length
(`jited_func_lens`); the image is cut at those boundaries and each function disassembled on its
own, so no instruction ever straddles two functions. Bytes capstone cannot decode are kept as
`.byte` lines (capstone's "skipdata" mode): every byte of the image is shown exactly once.

capstone is not a hard dependency: without it, `disassemble_jited` raises JitUnavailable with
what to install (`pip install 'devagent[jit]'`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from .btf import Btf
from .btf.signature import type_only
from .kallsyms import KernelSymbols
from .prog_code import LineInfo, ProgramCode
from .xlated import SourceLine, program_btf, source_line

INSTALL_HINT = "install capstone: pip install 'devagent[jit]' (or pip install capstone)"
_DIRECT_TARGET = re.compile(r"^#?(0x[0-9a-f]+)$")
_BRANCHES = frozenset({"call", "callq", "jmp", "jmpq", "bl", "b"})


class JitUnavailable(Exception):
    """JIT code cannot be shown: no capstone, an unknown CPU, or no JIT image."""


@dataclass(frozen=True, slots=True)
class JitedInsn:
    """One machine instruction of the JIT image."""

    offset: int  # byte offset in the program's whole image (all functions back to back)
    func_offset: int  # byte offset in its own function, as bpftool numbers lines
    address: int  # kernel address (0 when the kernel hides addresses)
    raw: bytes
    mnemonic: str
    operands: str
    function_index: int
    function: str | None  # the BTF prototype, on a function's first instruction
    symbol: str | None  # the function's kallsyms name (bpf_prog_<tag>_<name>), likewise
    source: SourceLine | None
    callee: str | None  # kernel symbol at the target of a direct call or jump

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.operands}" if self.operands else self.mnemonic


def _capstone(machine: str) -> Any:
    try:
        import capstone
    except ImportError:
        raise JitUnavailable(f"disassembling JIT code needs capstone: {INSTALL_HINT}") from None
    if machine == "x86_64":
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        md.syntax = capstone.CS_OPT_SYNTAX_ATT  # what bpftool (through libbfd) prints
    elif machine == "aarch64":
        arch = getattr(capstone, "CS_ARCH_ARM64", None) or capstone.CS_ARCH_AARCH64
        md = capstone.Cs(arch, capstone.CS_MODE_ARM)
    else:
        raise JitUnavailable(f"no disassembler for JIT code of {machine} (x86_64 and aarch64 are)")
    md.skipdata = True
    return md


def function_bounds(code: ProgramCode) -> list[tuple[int, int, int]]:
    """(start offset in the image, length, kernel address) of each function."""
    lens = code.jited_func_lens or (len(code.jited),)
    bounds, start = [], 0
    for i, length in enumerate(lens):
        address = code.jited_ksyms[i] if i < len(code.jited_ksyms) else 0
        bounds.append((start, length, address))
        start += length
    return bounds


def _lines_by_address(code: ProgramCode) -> dict[int, LineInfo]:
    return {
        addr: rec for addr, rec in zip(code.jited_line_info, code.line_info, strict=False) if addr
    }


def disassemble_jited(
    code: ProgramCode,
    symbols: KernelSymbols | None = None,
    btf: Btf | None = None,
    machine: str | None = None,
) -> list[JitedInsn]:
    """Every machine instruction of the program's JIT image, function by function."""
    md = _capstone(machine or os.uname().machine)
    if not code.jited:
        raise JitUnavailable(
            f"program {code.id} has no JIT image to show (the JIT is off, or the kernel does "
            "not let this user read it)"
        )
    bounds = function_bounds(code)
    if sum(length for _, length, _ in bounds) != len(code.jited):
        raise JitUnavailable(
            f"program {code.id}: function lengths {list(code.jited_func_lens)} do not add up "
            f"to the {len(code.jited)}-byte image"
        )
    symbols = symbols or KernelSymbols.read_in_background()
    if btf is None:
        btf = program_btf(code)
    lines = _lines_by_address(code)
    # Each function is disassembled from address 0, as bpftool does: jumps inside it show
    # the same offsets as the line labels. Calls and jumps out of it are named through
    # kallsyms from the function's real address.
    decoded: list[tuple[int, int, int, str, str, int | None]] = []
    targets: set[int] = set()
    for index, (start, length, address) in enumerate(bounds):
        image = code.jited[start : start + length]
        for at, size, mnemonic, operands in md.disasm_lite(image, 0):
            target = None
            if address and mnemonic in _BRANCHES and (m := _DIRECT_TARGET.match(operands)):
                relative = int(m.group(1), 16)
                if not 0 <= relative < length:
                    target = (address + relative) & 0xFFFFFFFFFFFFFFFF
                    targets.add(target)
            decoded.append((index, at, size, mnemonic, operands, target))
    names = symbols.resolve(targets | {address for _, _, address in bounds})
    out: list[JitedInsn] = []
    for index, at, size, mnemonic, operands, target in decoded:
        start, _, address = bounds[index]
        proto = None
        if at == 0 and btf is not None and index < len(code.func_info):
            proto = type_only(btf, code.func_info[index].type_id) or None
        rec = lines.get(address + at) if address else None
        out.append(
            JitedInsn(
                offset=start + at,
                func_offset=at,
                address=address + at if address else 0,
                raw=code.jited[start + at : start + at + size],
                mnemonic=mnemonic,
                operands=operands,
                function_index=index,
                function=proto,
                symbol=names.get(address) if at == 0 else None,
                source=source_line(btf, rec) if rec is not None else None,
                callee=names.get(target) if target is not None else None,
            )
        )
    return out
