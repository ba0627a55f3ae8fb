"""The eBPF instruction set: decoding `struct bpf_insn` and printing one instruction the way the
kernel's verifier log and `bpftool prog dump xlated` do (kernel/bpf/disasm.c).

Pure Python, no kernel access: `xlated.py` feeds it a program's translated instructions and
supplies the names the instruction itself cannot know (helpers and subprograms resolved through
kallsyms, maps by id) through a `Names` object.
"""

from __future__ import annotations

import struct
import sys
from typing import NamedTuple, Protocol

from .helper_ids import HELPER_NAMES

INSN_SIZE = 8

# Instruction classes (BPF_CLASS, the low 3 bits of the opcode).
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
# Sizes (BPF_SIZE) and modes (BPF_MODE) of loads and stores.
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
IMM, ABS, IND, MEM, MEMSX, ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
NOSPEC = 0xC0  # BPF_ST | NOSPEC: a speculation barrier the verifier inserts (no UAPI name)
# ALU and jump operations (BPF_OP) and the source bit (BPF_X: register, BPF_K: immediate).
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = (i << 4 for i in range(14))
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT, JLT, JLE, JSLT, JSLE, JCOND = (
    i << 4 for i in range(15)
)
K, X = 0x00, 0x08
TO_BE = X  # BPF_END with the source bit set converts to big endian
FETCH, XCHG, CMPXCHG = 0x01, 0xE0 | 0x01, 0xF0 | 0x01
LOAD_ACQ, STORE_REL = 0x100, 0x110

LD_IMM64 = LD | IMM | DW  # 0x18: the only 16-byte instruction
CALL_INSN = JMP | CALL  # 0x85
TAIL_CALL_INSN = JMP | 0xF0  # BPF_TAIL_CALL, kernel-internal; a dump shows it as a call

# src_reg of a call: a helper (0), a subprogram (BPF_PSEUDO_CALL) or a kernel function.
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2
# src_reg of ld_imm64: what the 64-bit immediate means.
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_BTF_ID = 3
PSEUDO_FUNC = 4
PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6
MAP_PSEUDOS = frozenset({PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE})

# Special `off` values of ALU64 MOV register-to-register.
ADDR_SPACE_CAST = 1
ADDR_PERCPU = -1  # kernel-internal: dst = src + this CPU's per-CPU offset
MAY_GOTO = 0  # src_reg of JMP|JCOND

_CLASS_NAMES = ("ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64")
_ALU_OPS = {
    ADD: "+=", SUB: "-=", MUL: "*=", DIV: "/=", OR: "|=", AND: "&=", LSH: "<<=", RSH: ">>=",
    NEG: "neg", MOD: "%=", XOR: "^=", MOV: "=", ARSH: "s>>=", END: "endian",
}  # fmt: skip
_SIGNED_ALU_OPS = {DIV: "s/=", MOD: "s%="}
_ATOMIC_OPS = {ADD: "add", AND: "and", OR: "or", XOR: "xor"}
_SIZES = {W: "u32", H: "u16", B: "u8", DW: "u64"}
_SIGNED_SIZES = {W: "s32", H: "s16", B: "s8"}
_MOVSX = {8: "(s8)", 16: "(s16)", 32: "(s32)"}
_JMP_OPS = {
    JA: "jmp", JEQ: "==", JGT: ">", JLT: "<", JGE: ">=", JLE: "<=", JSET: "&", JNE: "!=",
    JSGT: "s>", JSLT: "s<", JSGE: "s>=", JSLE: "s<=", CALL: "call", EXIT: "exit",
}  # fmt: skip

# struct bpf_insn: code, dst_reg:4 + src_reg:4 (bit order follows the byte order), off, imm.
_INSN = struct.Struct("<BBhi" if sys.byteorder == "little" else ">BBhi")
_LITTLE = sys.byteorder == "little"


class Insn(NamedTuple):
    """One decoded `struct bpf_insn` (an ld_imm64 occupies two, the second has code 0).
    A NamedTuple: programs have thousands of instructions, and tuples are built fastest."""

    code: int
    dst: int
    src: int
    off: int
    imm: int

    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def is_ld_imm64(self) -> bool:
        return self.code == LD_IMM64


def decode(raw: bytes) -> list[Insn]:
    """Split raw instructions (a multiple of 8 bytes) into Insn records."""
    if len(raw) % INSN_SIZE:
        raise ValueError(f"{len(raw)} bytes of instructions is not a multiple of {INSN_SIZE}")
    make = Insn._make
    if _LITTLE:
        return [make((c, r & 0x0F, r >> 4, o, i)) for c, r, o, i in _INSN.iter_unpack(raw)]
    return [make((c, r >> 4, r & 0x0F, o, i)) for c, r, o, i in _INSN.iter_unpack(raw)]


def helper_name(helper_id: int) -> str | None:
    """`bpf_map_lookup_elem` for 1: the kernel's name of a helper id, None if unknown."""
    return HELPER_NAMES[helper_id] if 0 <= helper_id < len(HELPER_NAMES) else None


class Names(Protocol):
    """What the printer cannot tell from an instruction alone (bpftool's callbacks)."""

    def call_name(self, insn: Insn) -> str | None:
        """The callee of a call whose imm is not a helper id: a kallsyms name, or None."""

    def imm_text(self, insn: Insn, imm64: int, hi_imm: int) -> str:
        """How the 64-bit immediate of an ld_imm64 is shown (`map[id:N]`, `0x...`)."""


class PlainNames:
    """The kernel's own fallbacks, as in the verifier log: numbers only."""

    def call_name(self, insn: Insn) -> str | None:
        return None

    def imm_text(self, insn: Insn, imm64: int, hi_imm: int) -> str:
        return f"0x{imm64:x}"


def _call_target(insn: Insn, names: Names) -> str:
    """What disasm.c's __func_get_name gives: a helper's name when imm is a helper id, else
    the callback's name, else `+off` for subprograms, `kernel-function`, or `unknown`."""
    if insn.src == 0 and 0 <= insn.imm < len(HELPER_NAMES):
        return HELPER_NAMES[insn.imm]
    name = names.call_name(insn)
    if name is not None:
        return name
    if insn.src == PSEUDO_CALL:
        return f"{insn.imm:+d}"
    if insn.src == PSEUDO_KFUNC_CALL:
        return "kernel-function"
    return "unknown"


def _alu(insn: Insn, cls: int) -> str:
    op = insn.code & 0xF0
    reg = "w" if cls == ALU else "r"
    d = insn.dst
    if op == END:
        if cls == ALU64:
            return f"r{d} = bswap{insn.imm} r{d}"
        return f"r{d} = {'be' if insn.code & TO_BE else 'le'}{insn.imm} r{d}"
    if op == NEG:
        return f"{reg}{d} = -{reg}{d}"
    if insn.code == ALU64 | MOV | X and insn.off == ADDR_SPACE_CAST:
        imm = insn.imm & 0xFFFFFFFF
        return f"r{d} = addr_space_cast(r{insn.src}, {imm >> 16}, {imm & 0xFFFF})"
    if insn.code == ALU64 | MOV | X and insn.off == ADDR_PERCPU:
        return f"r{d} = &(void __percpu *)(r{insn.src})"
    signed = op in (DIV, MOD) and insn.off == 1
    sym = _SIGNED_ALU_OPS[op] if signed else _ALU_OPS.get(op, "")
    if insn.code & X:
        movsx = _MOVSX.get(insn.off, "") if op == MOV else ""
        return f"{reg}{d} {sym} {movsx}{reg}{insn.src}"
    return f"{reg}{d} {sym} {insn.imm}"


def _stx(insn: Insn) -> str:
    mode, size = insn.code & 0xE0, _SIZES[insn.code & 0x18]
    at = f"(r{insn.dst} {insn.off:+d})"
    if mode == MEM:
        return f"*({size} *){at} = r{insn.src}"
    if mode == ATOMIC:
        imm, wide = insn.imm, "64" if insn.code & 0x18 == DW else ""
        if imm in _ATOMIC_OPS:
            return f"lock *({size} *){at} {_ALU_OPS[imm]} r{insn.src}"
        if imm & FETCH and (imm & ~FETCH) in _ATOMIC_OPS:
            op = _ATOMIC_OPS[imm & ~FETCH]
            return f"r{insn.src} = atomic{wide}_fetch_{op}(({size} *){at}, r{insn.src})"
        if imm == CMPXCHG:
            return f"r0 = atomic{wide}_cmpxchg(({size} *){at}, r0, r{insn.src})"
        if imm == XCHG:
            return f"r{insn.src} = atomic{wide}_xchg(({size} *){at}, r{insn.src})"
        if imm == LOAD_ACQ:
            return f"r{insn.dst} = load_acquire(({size} *)(r{insn.src} {insn.off:+d}))"
        if imm == STORE_REL:
            return f"store_release(({size} *){at}, r{insn.src})"
    return f"BUG_{insn.code:02x}"


def _jmp(insn: Insn, cls: int, names: Names) -> str:
    op, code = insn.code & 0xF0, insn.code
    if op == CALL:
        target = _call_target(insn, names)
        if insn.src == PSEUDO_CALL:
            return f"call pc{target}"
        return f"call {target}#{insn.imm}"
    if code == JMP | JA:
        return f"goto pc{insn.off:+d}"
    if code == JMP | JA | X:
        return f"gotox r{insn.dst}"
    if code == JMP | JCOND and insn.src == MAY_GOTO:
        return f"may_goto pc{insn.off:+d}"
    if code == JMP32 | JA:
        return f"gotol pc{insn.imm:+d}"
    if code == JMP | EXIT:
        return "exit"
    reg = "w" if cls == JMP32 else "r"
    sym = _JMP_OPS.get(op, "")
    if code & X:
        return f"if {reg}{insn.dst} {sym} {reg}{insn.src} goto pc{insn.off:+d}"
    return f"if {reg}{insn.dst} {sym} 0x{insn.imm & 0xFFFFFFFF:x} goto pc{insn.off:+d}"


def format_insn(insn: Insn, next_insn: Insn | None = None, names: Names | None = None) -> str:
    """One instruction as disasm.c prints it: `(bf) r6 = r1`, `(85) call bpf_tail_call#12`.
    `next_insn` is the second half of an ld_imm64 (its imm holds the upper 32 bits)."""
    names = names or PlainNames()
    cls = insn.cls
    head = f"({insn.code:02x}) "
    if cls in (ALU, ALU64):
        return head + _alu(insn, cls)
    if cls == STX:
        text = _stx(insn)
        return text if text.startswith("BUG") else head + text
    if cls == ST:
        mode = insn.code & 0xE0
        if mode == MEM:
            size = _SIZES[insn.code & 0x18]
            return f"{head}*({size} *)(r{insn.dst} {insn.off:+d}) = {insn.imm}"
        if mode == NOSPEC:
            return head + "nospec"
        return f"BUG_st_{insn.code:02x}"
    if cls == LDX:
        mode = insn.code & 0xE0
        if mode not in (MEM, MEMSX):
            return f"BUG_ldx_{insn.code:02x}"
        table = _SIZES if mode == MEM else _SIGNED_SIZES
        size = table.get(insn.code & 0x18, "")
        return f"{head}r{insn.dst} = *({size} *)(r{insn.src} {insn.off:+d})"
    if cls == LD:
        mode, size = insn.code & 0xE0, _SIZES[insn.code & 0x18]
        if mode == ABS:
            return f"{head}r0 = *({size} *)skb[{insn.imm}]"
        if mode == IND:
            return f"{head}r0 = *({size} *)skb[r{insn.src} + {insn.imm}]"
        if insn.code == LD_IMM64:
            hi = next_insn.imm if next_insn is not None else 0
            imm64 = ((hi & 0xFFFFFFFF) << 32) | (insn.imm & 0xFFFFFFFF)
            return f"{head}r{insn.dst} = {names.imm_text(insn, imm64, hi)}"
        return f"BUG_ld_{insn.code:02x}"
    return head + _jmp(insn, cls, names)  # JMP, JMP32
