"""A small assembler for the agent's own BPF programs: instructions as values, jumps to labels.

Raw opcodes with jump offsets counted by hand break silently when an instruction is added
between a jump and its target. Here, as in cilium/ebpf's `asm` package, each constructor
returns an `Instruction`, a `Label` placed among them marks a position, and `assemble` lays
the stream out and gives every jump the offset to its label, in 8-byte slots (an ld_imm64
takes two). The constructors are the kernel's own macros (include/linux/filter.h:
BPF_ALU64_IMM, BPF_LDX_MEM, BPF_JMP_IMM, ...) with their argument order; opcode parts come
from devagent.bpf.insns (`alu64_imm(ADD, R1, -8)`, `ldx_mem(DW, R6, R1, 0)`), the bytes from
devagent.bpf.progs.insn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..insns import (
    ALU,
    ALU64,
    CALL,
    EXIT,
    JA,
    JMP,
    JMP32,
    LD_IMM64,
    LDX,
    MEM,
    MOV,
    PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_FD,
    ST,
    STX,
    K,
    X,
)
from ..progs import insn

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)
_S16 = range(-(1 << 15), 1 << 15)
_S32 = range(-(1 << 31), 1 << 31)


class AssemblyError(ValueError):
    """The instructions cannot be laid out: a label defined (placed) twice or never, or a
    number that does not fit its field (a jump further than a 16-bit offset reaches)."""


@dataclass(frozen=True)
class Label:
    """A position in the instruction stream: placed among the instructions, named by jumps.
    Labels are equal by name: a name placed twice is refused instead of guessed at."""

    name: str


@dataclass(frozen=True)
class Instruction:
    """One instruction before layout. A jump's `off` is set by `assemble` from `target`;
    an ld_imm64's `imm` holds all 64 bits (it is written as two slots)."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    target: Label | None = None

    @property
    def slots(self) -> int:
        return 2 if self.code == LD_IMM64 else 1


Item = Instruction | Label


def alu64_imm(op: int, dst: int, imm: int) -> Instruction:
    """BPF_ALU64_IMM: `dst op= imm` on 64 bits (op: insns.ADD, SUB, ...)."""
    return Instruction(ALU64 | op | K, dst, imm=imm)


def alu64_reg(op: int, dst: int, src: int) -> Instruction:
    """BPF_ALU64_REG: `dst op= src` on 64 bits."""
    return Instruction(ALU64 | op | X, dst, src)


def alu32_imm(op: int, dst: int, imm: int) -> Instruction:
    """BPF_ALU32_IMM: `wdst op= imm` (the upper 32 bits of dst become zero)."""
    return Instruction(ALU | op | K, dst, imm=imm)


def alu32_reg(op: int, dst: int, src: int) -> Instruction:
    """BPF_ALU32_REG: `wdst op= wsrc`."""
    return Instruction(ALU | op | X, dst, src)


def mov64_imm(dst: int, imm: int) -> Instruction:
    """BPF_MOV64_IMM: `dst = imm`, sign-extended to 64 bits."""
    return alu64_imm(MOV, dst, imm)


def mov64_reg(dst: int, src: int) -> Instruction:
    """BPF_MOV64_REG: `dst = src`."""
    return alu64_reg(MOV, dst, src)


def mov32_imm(dst: int, imm: int) -> Instruction:
    """BPF_MOV32_IMM: `wdst = imm`."""
    return alu32_imm(MOV, dst, imm)


def mov32_reg(dst: int, src: int) -> Instruction:
    """BPF_MOV32_REG: `wdst = wsrc`."""
    return alu32_reg(MOV, dst, src)


def ldx_mem(size: int, dst: int, src: int, off: int) -> Instruction:
    """BPF_LDX_MEM: `dst = *(size *)(src + off)` (size: insns.B, H, W, DW)."""
    return Instruction(LDX | size | MEM, dst, src, off)


def stx_mem(size: int, dst: int, src: int, off: int) -> Instruction:
    """BPF_STX_MEM: `*(size *)(dst + off) = src`."""
    return Instruction(STX | size | MEM, dst, src, off)


def st_mem(size: int, dst: int, off: int, imm: int) -> Instruction:
    """BPF_ST_MEM: `*(size *)(dst + off) = imm`."""
    return Instruction(ST | size | MEM, dst, off=off, imm=imm)


def jmp_imm(op: int, dst: int, imm: int, target: Label) -> Instruction:
    """BPF_JMP_IMM: `if dst op imm goto target` on 64 bits (op: insns.JEQ, JNE, JLT, ...)."""
    return Instruction(JMP | _conditional(op) | K, dst, imm=imm, target=target)


def jmp_reg(op: int, dst: int, src: int, target: Label) -> Instruction:
    """BPF_JMP_REG: `if dst op src goto target`."""
    return Instruction(JMP | _conditional(op) | X, dst, src, target=target)


def jmp32_imm(op: int, dst: int, imm: int, target: Label) -> Instruction:
    """BPF_JMP32_IMM: `if wdst op imm goto target` on the lower 32 bits."""
    return Instruction(JMP32 | _conditional(op) | K, dst, imm=imm, target=target)


def jmp32_reg(op: int, dst: int, src: int, target: Label) -> Instruction:
    """BPF_JMP32_REG: `if wdst op wsrc goto target`."""
    return Instruction(JMP32 | _conditional(op) | X, dst, src, target=target)


def _conditional(op: int) -> int:
    if op in (JA, CALL, EXIT):  # same class, no condition: ja(), call_*(), exit_insn()
        raise ValueError(f"jump operation {op:#x} is not a conditional jump")
    return op


def ja(target: Label) -> Instruction:
    """BPF_JMP_A: `goto target`."""
    return Instruction(JMP | JA, target=target)


def call_helper(helper_id: int) -> Instruction:
    """BPF_EMIT_CALL: call the helper with this id (enum bpf_func_id)."""
    return Instruction(JMP | CALL, imm=helper_id)


def call_kfunc(btf_id: int) -> Instruction:
    """Call the kernel function with this BTF id in vmlinux (BPF_PSEUDO_KFUNC_CALL)."""
    return Instruction(JMP | CALL, src=PSEUDO_KFUNC_CALL, imm=btf_id)


def ld_imm64(dst: int, value: int) -> Instruction:
    """BPF_LD_IMM64: `dst = value`, any 64-bit constant (two slots)."""
    return Instruction(LD_IMM64, dst, imm=value)


def ld_map_fd(dst: int, fd: int) -> Instruction:
    """BPF_LD_MAP_FD: `dst = the map fd refers to` (BPF_PSEUDO_MAP_FD; the kernel puts the
    map's address there at load and records the map as used by the program)."""
    return Instruction(LD_IMM64, dst, PSEUDO_MAP_FD, imm=fd)


def exit_insn() -> Instruction:
    """BPF_EXIT_INSN: return r0."""
    return Instruction(JMP | EXIT)


def assemble(items: Iterable[Item]) -> bytes:
    """The program's bytes: the labels' positions are counted first (in slots), then each
    jump gets its label's position minus the slot after the jump. AssemblyError names a
    label defined twice or never, and a jump or number that does not fit its field."""
    stream = list(items)
    where: dict[Label, int] = {}
    slot = 0
    for item in stream:
        if isinstance(item, Label):
            if item in where:
                raise AssemblyError(f"label {item.name!r} is defined twice")
            where[item] = slot
        else:
            slot += item.slots
    code, slot = [], 0
    for item in stream:
        if isinstance(item, Instruction):
            code.append(_encode(item, slot, where))
            slot += item.slots
    return b"".join(code)


def _encode(ins: Instruction, slot: int, where: dict[Label, int]) -> bytes:
    off, target = ins.off, ins.target
    if target is not None:
        if target not in where:
            raise AssemblyError(f"the jump at slot {slot} goes to undefined label {target.name!r}")
        off = where[target] - (slot + 1)
        if off not in _S16:
            raise AssemblyError(
                f"the jump at slot {slot} to label {target.name!r} is {off} slots away, "
                "beyond a 16-bit offset"
            )
    if off not in _S16:
        raise AssemblyError(f"offset {off} at slot {slot} does not fit 16 bits")
    if ins.code == LD_IMM64:
        if not -(1 << 63) <= ins.imm < 1 << 64:
            raise AssemblyError(f"constant {ins.imm} at slot {slot} does not fit 64 bits")
        low, high = _s32(ins.imm & 0xFFFFFFFF), _s32((ins.imm >> 32) & 0xFFFFFFFF)
        return insn(ins.code, ins.dst, ins.src, off, low) + insn(0, imm=high)
    if ins.imm not in _S32:
        raise AssemblyError(f"immediate {ins.imm} at slot {slot} does not fit 32 bits")
    return insn(ins.code, ins.dst, ins.src, off, ins.imm)


def _s32(word: int) -> int:
    """An unsigned 32-bit word as the signed `imm` field holds it."""
    return word - (1 << 32) if word & 0x80000000 else word
