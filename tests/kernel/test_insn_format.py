"""Our instruction printer against the running kernel's own (kernel/bpf/disasm.c).

At log level 2 the verifier prints every instruction it checks, before it checks it, with the
kernel's disassembler. Each kind of instruction (every ALU and jump operation in both classes
and both source modes, every load, store and atomic, sign-extending moves, byte swaps, 64-bit
immediates, calls of every helper id we know) is loaded on its own after a prologue that
sets every register and the stack, and the line the kernel printed for it must equal ours.
Whether it then passes verification does not matter: the line comes first.

Kernels differ in what they know (sign-extending moves and signed division came in 6.6,
load-acquire in 6.15, helpers one by one): an instruction this kernel refuses as an encoding
it does not know (`unknown opcode`, `uses reserved fields`, ...: older kernels print such an
instruction as the nearest one they know, then refuse it), or a helper it prints as
`unknown#N`, is not this kernel's to judge; everything else it prints must match.
"""

from __future__ import annotations

import contextlib
import ctypes
import re

import pytest

from devagent.bpf import _sys
from devagent.bpf import insns as I
from devagent.bpf.errors import BPFError
from devagent.bpf.helper_ids import HELPER_NAMES
from devagent.bpf.progs import ProgLoadAttr, insn

# "12: (bf) r6 = r1", then, on newer kernels, "   ; R1=ctx() R6_w=ctx()" on the same line.
TRACE = re.compile(r"^(\d+): (\([0-9a-f]{2}\) .*?)(?:\s+;.*)?$")
# What a verifier says of an instruction encoding it does not know (the prologue and the
# epilogue are plain: any of these is about the instruction under test).
UNKNOWN_ENCODING = ("unknown opcode", "reserved fields", "invalid BPF_", "invalid atomic")
# (A helper the kernel does not know is printed `unknown#N`, checked on the line itself.)
# Before 6.6 a 32-bit `gotol` (JMP32|JA) is no instruction: the disassembler prints it as a
# conditional jump with the name of op 0, and the verifier lets that through.
OLD_JA = re.compile(r"^\(06\) if w\d+ jmp ")
# r6 = ctx, r0-r5 and r7-r9 small numbers, 16 bytes of stack written.
PROLOGUE = [
    insn(I.ALU64 | I.MOV | I.X, dst=6, src=1),
    *(insn(I.ALU64 | I.MOV | I.K, dst=r, imm=r + 1) for r in (0, 1, 2, 3, 4, 5, 7, 8, 9)),
    insn(I.ST | I.MEM | I.DW, dst=10, off=-8, imm=0),
    insn(I.ST | I.MEM | I.DW, dst=10, off=-16, imm=0),
]
EPILOGUE = [insn(I.ALU64 | I.MOV | I.K, imm=0), insn(I.JMP | I.EXIT)]


def kernel_line(code: bytes, pc: int) -> str | None:
    """The verifier's line for instruction `pc` of `code` (a socket filter), None if the
    kernel refused the program before checking that far or refused the instruction's
    encoding as one it does not know; the load itself may fail."""
    buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    attr = ProgLoadAttr(
        prog_type=1, insn_cnt=len(code) // 8, insns=_sys.addr(buf), license=_sys.addr(lic),
        log_level=2, log_size=len(log), log_buf=_sys.addr(log),
    )  # fmt: skip
    with contextlib.suppress(BPFError):
        _sys.close_fd(_sys.bpf(_sys.Cmd.PROG_LOAD, attr))
    text = log.value.decode("utf-8", "replace")
    if any(phrase in text for phrase in UNKNOWN_ENCODING):
        return None
    for line in text.splitlines():
        m = TRACE.match(line)
        if m and int(m.group(1)) == pc:
            return m.group(2)
    return None


def every_kind_of_instruction() -> list[bytes]:
    """One of each instruction kind, every one reachable (jumps go to the next one)."""
    out = [insn(I.ALU64 | I.MOV | I.X, dst=6, src=1)]  # r6 = ctx, for the skb loads
    ops = (I.ADD, I.SUB, I.MUL, I.DIV, I.OR, I.AND, I.LSH, I.RSH, I.MOD, I.XOR, I.MOV, I.ARSH)
    for cls in (I.ALU, I.ALU64):
        for op in ops:
            out += [insn(cls | op | I.K, dst=2, imm=-3 if op == I.MOV else 3),
                    insn(cls | op | I.X, dst=2, src=3)]  # fmt: skip
        out += [insn(cls | I.NEG, dst=4)]
        out += [insn(cls | op | I.K, dst=2, off=1, imm=5) for op in (I.DIV, I.MOD)]
        out += [insn(cls | op | I.X, dst=2, src=5, off=1) for op in (I.DIV, I.MOD)]
        out += [insn(cls | I.MOV | I.X, dst=3, src=4, off=bits) for bits in (8, 16)]
    out += [insn(I.ALU64 | I.MOV | I.X, dst=3, src=4, off=32)]
    for bits in (16, 32, 64):
        out += [
            insn(I.ALU | I.END | I.TO_BE, dst=2, imm=bits),
            insn(I.ALU | I.END, dst=2, imm=bits),
        ]
        out += [insn(I.ALU64 | I.END, dst=2, imm=bits)]
    out += [insn(I.ALU64 | I.MOV | I.X, dst=2, src=3, off=I.ADDR_PERCPU)]
    out += [insn(I.ALU64 | I.MOV | I.X, dst=2, src=3, off=I.ADDR_SPACE_CAST, imm=1 << 16)]
    jumps = (I.JEQ, I.JGT, I.JGE, I.JSET, I.JNE, I.JSGT, I.JSGE, I.JLT, I.JLE, I.JSLT, I.JSLE)
    for cls in (I.JMP, I.JMP32):
        for op in jumps:
            out += [insn(cls | op | I.K, dst=2, imm=-1), insn(cls | op | I.X, dst=2, src=3)]
    out += [insn(I.JMP | I.JA), insn(I.JMP32 | I.JA), insn(I.JMP | I.JCOND, src=I.MAY_GOTO)]
    for size in (I.B, I.H, I.W, I.DW):
        out += [
            insn(I.ST | I.MEM | size, dst=10, off=-16, imm=7),
            insn(I.STX | I.MEM | size, dst=10, src=2, off=-16),
            insn(I.LDX | I.MEM | size, dst=3, src=10, off=-16),
            insn(I.STX | I.ATOMIC | size, dst=3, src=10, off=-16, imm=I.LOAD_ACQ),
            insn(I.STX | I.ATOMIC | size, dst=10, src=2, off=-16, imm=I.STORE_REL),
        ]
        if size != I.DW:
            out += [insn(I.LDX | I.MEMSX | size, dst=3, src=10, off=-16)]
            out += [insn(I.LD | I.ABS | size, imm=12), insn(I.LD | I.IND | size, src=2, imm=4)]
    for size in (I.W, I.DW):
        atomics = [op | fetch for op in (I.ADD, I.AND, I.OR, I.XOR) for fetch in (0, I.FETCH)]
        for imm in (*atomics, I.XCHG, I.CMPXCHG):
            out += [insn(I.STX | I.ATOMIC | size, dst=10, src=2, off=-8, imm=imm)]
    out += [insn(I.LD_IMM64, dst=3, imm=0x9ABCDEF0 - (1 << 32)), insn(0, imm=0x12345678)]
    out += [insn(I.CALL_INSN, imm=helper) for helper in range(len(HELPER_NAMES))]
    return out


def test_every_instruction_prints_as_the_kernel_prints_it(kernel: None) -> None:
    body = every_kind_of_instruction()
    decoded = I.decode(b"".join(body))
    checked = unknown = 0
    pc = 0
    while pc < len(decoded):
        width = 2 if decoded[pc].is_ld_imm64 else 1
        code = b"".join([*PROLOGUE, *body[pc : pc + width], *EPILOGUE])
        theirs = kernel_line(code, len(PROLOGUE))
        ours = I.format_insn(decoded[pc], decoded[pc + 1] if width == 2 else None)
        if theirs is None or "unknown#" in theirs or OLD_JA.search(theirs):
            unknown += 1  # an instruction or helper this kernel does not know
        else:
            assert theirs == ours, pc
            checked += 1
        pc += width
    assert checked > 250, (checked, unknown)


@pytest.mark.parametrize("helper", [1, 12, 130])
def test_helper_names_come_from_the_table(helper: int) -> None:
    """A call by helper id shows the helper's name: the generated table drives it."""
    text = I.format_insn(I.Insn(I.CALL_INSN, 0, 0, 0, helper))
    assert text == f"(85) call {HELPER_NAMES[helper]}#{helper}"
    assert HELPER_NAMES[1] == "bpf_map_lookup_elem"
