"""A program's translated instructions (what the verifier let run), one record per instruction,
with what bpftool's `prog dump xlated` prints and the pieces a UI needs.

The kernel rewrites the code it hands out (`bpf_insn_prepare_dump`): map references become map
ids (`map[id:N]`, `map[id:N][0]+off` for a global variable), helper and kfunc calls carry the
callee's address relative to `__bpf_call_base`, subprogram calls the index of the callee's JIT
image (its `off` keeps the relative jump). Names come from kallsyms, as in bpftool; the
prototype above each function from the program's BTF func_info, the source lines from its
line_info.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .btf import Btf, load_btf
from .btf_signature import type_only
from .btf_types import BTFError
from .errors import BPFError
from .insns import (
    CALL,
    EXIT,
    JA,
    JMP,
    JMP32,
    LD_IMM64,
    PSEUDO_CALL,
    PSEUDO_FUNC,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
    Insn,
    decode,
    format_insn,
    helper_name,
)
from .kallsyms import KernelSymbols
from .prog_code import LineInfo, ProgramCode

_U64 = (1 << 64) - 1
_SPACES = " \t\n\v\f\r"  # C isspace(): what bpftool's ltrim() drops


@dataclass(frozen=True, slots=True)
class SourceLine:
    """The source position of an instruction (BTF line_info): text left-trimmed as bpftool
    shows it, None when the string is missing from the BTF."""

    text: str | None
    file: str | None
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class XlatedInsn:
    """One translated instruction: `pc` counts 8-byte slots (an ld_imm64 takes two)."""

    pc: int
    insn: Insn
    raw: bytes  # 8 bytes, or 16 for an ld_imm64
    text: str  # as bpftool prints it: `(85) call bpf_tail_call#12`
    function: str | None  # the prototype when a function starts here
    source: SourceLine | None
    map_id: int | None  # a map referenced by an ld_imm64
    map_value_offset: int | None  # for `map[id:N][0]+off` (a global variable)
    callee: str | None  # the symbol called: helper, kfunc or subprogram
    target: int | None  # pc a jump or subprogram call (or callback reference) goes to


class _BpftoolNames:
    """bpftool's print_call and print_imm callbacks (xlated_dumper.c), with every address
    resolved in one pass over kallsyms."""

    def __init__(self, code: ProgramCode, insns: Sequence[Insn], symbols: KernelSymbols) -> None:
        self.ksyms = code.jited_ksyms
        self.base = symbols.call_base or 0
        self.addresses = {
            i: self._address(insn) for i, insn in enumerate(insns) if insn.code == JMP | CALL
        }
        self.symbols = symbols.resolve(self.addresses.values()) if symbols.call_base else {}

    def _address(self, insn: Insn) -> int:
        if insn.src == PSEUDO_CALL and 0 <= insn.imm < len(self.ksyms):
            return self.ksyms[insn.imm]
        return (self.base + insn.imm) & _U64

    def callee(self, insn: Insn) -> str | None:
        return self.symbols.get(self._address(insn))

    def call_name(self, insn: Insn) -> str | None:
        address = self._address(insn)
        sym = self.symbols.get(address)
        if insn.src == PSEUDO_CALL:
            if not self.ksyms:
                return f"{insn.off:+d}"  # not JIT-compiled: no addresses to show
            return f"{insn.off:+d}#{sym}" if sym else f"{insn.off:+d}#0x{address:x}"
        if sym:
            return sym
        return f"0x{address:x}" if address else "0"  # C's %#lx

    def imm_text(self, insn: Insn, imm64: int, hi_imm: int) -> str:
        hi = hi_imm & 0xFFFFFFFF
        if insn.src == PSEUDO_MAP_FD:
            return f"map[id:{insn.imm & 0xFFFFFFFF}]"
        if insn.src == PSEUDO_MAP_VALUE:
            return f"map[id:{insn.imm & 0xFFFFFFFF}][0]+{hi}"
        if insn.src == PSEUDO_MAP_IDX_VALUE:
            return f"map[idx:{insn.imm & 0xFFFFFFFF}]+{hi}"
        if insn.src == PSEUDO_FUNC:
            return f"subprog[{insn.imm:+d}]"
        return f"0x{imm64:x}"


def source_line(btf: Btf | None, rec: LineInfo) -> SourceLine:
    """The source position a line_info record names, its strings read from `btf`."""

    def string(offset: int) -> str | None:
        if btf is None:
            return None
        try:
            return btf.string(offset)
        except BTFError:
            return None

    text = string(rec.line_off)
    return SourceLine(
        text.lstrip(_SPACES) if text is not None else None,
        string(rec.file_name_off),
        rec.line,
        rec.column,
    )


def _callee(insn: Insn, names: _BpftoolNames) -> str | None:
    if insn.src == 0 and (helper := helper_name(insn.imm)) is not None:
        return helper  # e.g. bpf_tail_call: the kernel writes back its helper id
    return names.callee(insn)


def _target(pc: int, insn: Insn) -> int | None:
    cls, op = insn.code & 0x07, insn.code & 0xF0
    if insn.code == LD_IMM64 and insn.src == PSEUDO_FUNC:
        return pc + insn.imm + 1
    if cls not in (JMP, JMP32) or op == EXIT:
        return None
    if op == CALL:
        return pc + insn.off + 1 if insn.src == PSEUDO_CALL else None
    if insn.code == JMP32 | JA:
        return pc + insn.imm + 1
    if insn.code & 0x08 and op == JA:
        return None  # gotox: the target is in a register
    return pc + insn.off + 1


def program_btf(code: ProgramCode) -> Btf | None:
    """The program's BTF (for prototypes and source lines), None without one."""
    if not code.btf_id:
        return None
    try:
        return load_btf(code.btf_id)
    except (BPFError, BTFError):
        return None


def disassemble(
    code: ProgramCode, symbols: KernelSymbols | None = None, btf: Btf | None = None
) -> list[XlatedInsn]:
    """Every translated instruction of `code`, in order (the second half of an ld_imm64 is
    part of the first's record). `symbols` defaults to a fresh read of /proc/kallsyms, `btf`
    to the program's own."""
    insns = decode(code.xlated)
    names = _BpftoolNames(code, insns, symbols or KernelSymbols())
    if btf is None:
        btf = program_btf(code)
    lines = {rec.insn_off: rec for rec in code.line_info}
    funcs = list(code.func_info) if btf is not None else []
    next_func = 0
    out: list[XlatedInsn] = []
    pc, count = 0, len(insns)
    while pc < count:
        insn = insns[pc]
        wide = insn.code == LD_IMM64
        second = insns[pc + 1] if wide and pc + 1 < count else None
        function = None
        # Like bpftool: func_info records are taken in order, each where its offset is met.
        if next_func < len(funcs) and funcs[next_func].insn_off == pc:
            assert btf is not None
            function = type_only(btf, funcs[next_func].type_id) or None
            next_func += 1
        rec = lines.get(pc)
        map_id = map_off = None
        if wide and insn.src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
            map_id = insn.imm & 0xFFFFFFFF
            if insn.src == PSEUDO_MAP_VALUE and second is not None:
                map_off = second.imm & 0xFFFFFFFF
        out.append(
            XlatedInsn(
                pc=pc,
                insn=insn,
                raw=code.xlated[pc * 8 : pc * 8 + (16 if wide else 8)],
                text=format_insn(insn, second, names),
                function=function,
                source=source_line(btf, rec) if rec is not None else None,
                map_id=map_id,
                map_value_offset=map_off,
                callee=_callee(insn, names) if insn.code == JMP | CALL else None,
                target=_target(pc, insn),
            )
        )
        pc += 2 if wide else 1
    return out
