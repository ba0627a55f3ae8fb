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
from typing import NamedTuple

from .btf import Btf, load_btf
from .btf.signature import type_only
from .btf.types import BTFError
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


class XlatedInsn(NamedTuple):
    """One translated instruction: `pc` counts 8-byte slots (an ld_imm64 takes two). A
    NamedTuple, built fastest for programs of thousands of instructions."""

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
    """bpftool's print_call and print_imm callbacks (xlated_dumper.c). Call names need
    kallsyms: `resolve` looks up every call's address in one pass, once it is read."""

    def __init__(self, code: ProgramCode) -> None:
        self.ksyms = code.jited_ksyms
        self.base = 0
        self.symbols: dict[int, str] = {}

    def resolve(self, calls: Sequence[Insn], symbols: KernelSymbols) -> None:
        self.base = symbols.call_base or 0
        if symbols.call_base:
            self.symbols = symbols.resolve(self._address(insn) for insn in calls)

    def _address(self, insn: Insn) -> int:
        if insn.src == PSEUDO_CALL and 0 <= insn.imm < len(self.ksyms):
            return self.ksyms[insn.imm]
        return (self.base + insn.imm) & _U64

    def callee(self, insn: Insn) -> str | None:
        if insn.src == 0 and (helper := helper_name(insn.imm)) is not None:
            return helper  # e.g. bpf_tail_call: the kernel writes back its helper id
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
    part of the first's record). `symbols` defaults to a read of /proc/kallsyms, `btf` to the
    program's own.

    kallsyms takes the kernel ~50-150 ms to generate: it is read on a worker thread (the read
    releases the GIL) while everything but the calls is decoded, and the calls are named last.
    """
    if symbols is None:
        symbols = KernelSymbols.read_in_background()
    insns = decode(code.xlated)
    names = _BpftoolNames(code)
    if btf is None:
        btf = program_btf(code)
    lines = {rec.insn_off: rec for rec in code.line_info}
    sources: dict[tuple[int, int, int], SourceLine] = {}  # unrolled code repeats its lines
    funcs = list(code.func_info) if btf is not None else []
    next_func = 0
    out: list[XlatedInsn] = []
    calls: list[int] = []  # indexes in `out`
    pc, count = 0, len(insns)
    while pc < count:
        insn = insns[pc]
        wide = insn.code == LD_IMM64
        second = insns[pc + 1] if wide and pc + 1 < count else None
        function = None
        # Like bpftool: func_info records are taken in order, each where its offset is met.
        if next_func < len(funcs) and funcs[next_func].insn_off == pc:
            assert btf is not None  # noqa: S101 narrowing: funcs is empty without BTF
            function = type_only(btf, funcs[next_func].type_id) or None
            next_func += 1
        source = None
        rec = lines.get(pc)
        if rec is not None:
            key = (rec.file_name_off, rec.line_off, rec.line_col)
            source = sources.get(key)
            if source is None:
                source = sources[key] = source_line(btf, rec)
        map_id = map_off = None
        if wide and insn.src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
            map_id = insn.imm & 0xFFFFFFFF
            if insn.src == PSEUDO_MAP_VALUE and second is not None:
                map_off = second.imm & 0xFFFFFFFF
        is_call = insn.code == JMP | CALL
        if is_call:
            calls.append(len(out))
        out.append(
            XlatedInsn(
                pc=pc,
                insn=insn,
                raw=code.xlated[pc * 8 : pc * 8 + (16 if wide else 8)],
                text="" if is_call else format_insn(insn, second, names),
                function=function,
                source=source,
                map_id=map_id,
                map_value_offset=map_off,
                callee=None,
                target=_target(pc, insn),
            )
        )
        pc += 2 if wide else 1
    names.resolve([out[i].insn for i in calls], symbols)
    for i in calls:
        x = out[i]
        out[i] = x._replace(text=format_insn(x.insn, None, names), callee=names.callee(x.insn))
    return out
