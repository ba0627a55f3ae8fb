"""The iterators' assembler (bpf.iter.asm): jumps land on their labels, an ld_imm64 counts
two slots, a program that cannot be laid out is refused, and what it writes decodes back (with
the kernel's disassembler format, bpf.insns) to the instructions it was given."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devagent.bpf.insns import (
    ADD,
    DW,
    JEQ,
    JGE,
    JGT,
    JNE,
    JSLT,
    LSH,
    PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_FD,
    SUB,
    XOR,
    B,
    H,
    W,
    decode,
    format_insn,
)
from devagent.bpf.iter.asm import (
    R0,
    R1,
    R2,
    R3,
    R4,
    R6,
    R10,
    AssemblyError,
    Instruction,
    Item,
    Label,
    alu32_imm,
    alu32_reg,
    alu64_imm,
    alu64_reg,
    assemble,
    call_helper,
    call_kfunc,
    exit_insn,
    ja,
    jmp32_imm,
    jmp32_reg,
    jmp_imm,
    jmp_reg,
    ld_imm64,
    ld_map_fd,
    ldx_mem,
    mov32_imm,
    mov32_reg,
    mov64_imm,
    mov64_reg,
    st_mem,
    stx_mem,
)


def listing(code: bytes) -> list[str]:
    """The program as bpftool's `prog dump xlated` would print it, one line per instruction."""
    insns, lines, at = decode(code), [], 0
    while at < len(insns):
        wide = insns[at].is_ld_imm64
        lines.append(format_insn(insns[at], insns[at + 1] if wide else None))
        at += 2 if wide else 1
    return lines


def test_a_small_program_decodes_back_to_its_instructions() -> None:
    loop, done = Label("loop"), Label("done")
    code = assemble([
        mov64_imm(R0, 0),
        ld_imm64(R1, 0x1_0000_0002),  # slots 1 and 2
        loop,
        alu64_imm(ADD, R0, 1),
        jmp_imm(JGE, R0, 10, done),  # forward, over three slots
        ldx_mem(W, R2, R10, -4),
        stx_mem(DW, R10, R2, -16),
        ja(loop),  # backward, to slot 3
        done,
        call_helper(5),
        exit_insn(),
    ])  # fmt: skip
    assert listing(code) == [
        "(b7) r0 = 0",
        "(18) r1 = 0x100000002",
        "(07) r0 += 1",
        "(35) if r0 >= 0xa goto pc+3",
        "(61) r2 = *(u32 *)(r10 -4)",
        "(7b) *(u64 *)(r10 -16) = r2",
        "(05) goto pc-5",
        "(85) call bpf_ktime_get_ns#5",
        "(95) exit",
    ]


def test_an_ld_imm64_counts_two_slots() -> None:
    skip = Label("skip")
    code = assemble([
        jmp_imm(JEQ, R1, 0, skip), ld_imm64(R2, 1), ld_map_fd(R3, 4), skip, exit_insn(),
    ])  # fmt: skip
    insns = decode(code)
    assert len(insns) == 6 and insns[0].off == 4  # over two ld_imm64s of two slots each
    assert (insns[3].code, insns[3].dst, insns[3].src, insns[3].imm) == (0x18, R3, PSEUDO_MAP_FD, 4)
    assert insns[4] == (0, 0, 0, 0, 0)  # the second half of the map load


def test_a_label_may_be_jumped_to_from_both_sides_and_by_many() -> None:
    here = Label("here")
    code = assemble([
        jmp_imm(JNE, R1, 0, here), mov64_imm(R0, 1), here, mov64_imm(R0, 2),
        jmp_reg(JGT, R1, R2, here), ja(here), exit_insn(),
    ])  # fmt: skip
    assert [insn.off for insn in decode(code)] == [1, 0, 0, -2, -3, 0]


def test_an_undefined_label_is_refused() -> None:
    with pytest.raises(AssemblyError, match=r"jump at slot 1 goes to undefined label 'nowhere'"):
        assemble([mov64_imm(R0, 0), ja(Label("nowhere")), exit_insn()])


def test_a_label_defined_twice_is_refused() -> None:
    again = Label("again")
    with pytest.raises(AssemblyError, match="label 'again' is defined twice"):
        assemble([again, mov64_imm(R0, 0), Label("again"), ja(again), exit_insn()])


def test_jumps_reach_exactly_as_far_as_a_16_bit_offset() -> None:
    """32767 slots forward and 32768 back are the limits; one more either way is refused."""
    filler = mov64_imm(R0, 0)
    far = Label("far")
    assert decode(assemble([ja(far), *[filler] * 32767, far]))[0].off == 32767
    with pytest.raises(AssemblyError, match=r"label 'far' is 32768 slots away, beyond a 16-bit"):
        assemble([ja(far), *[filler] * 32768, far])
    back = [far, *[filler] * 32767, ja(far)]
    assert decode(assemble(back))[-1].off == -32768
    with pytest.raises(AssemblyError, match="is -32769 slots away"):
        assemble([far, filler, *back[1:]])


def test_numbers_that_do_not_fit_their_fields_are_refused() -> None:
    with pytest.raises(AssemblyError, match=r"immediate 2147483648 at slot 0 does not fit 32"):
        assemble([mov64_imm(R0, 1 << 31)])
    with pytest.raises(AssemblyError, match=r"offset 32768 at slot 1 does not fit 16 bits"):
        assemble([exit_insn(), ldx_mem(DW, R0, R1, 1 << 15)])
    with pytest.raises(AssemblyError, match="does not fit 64 bits"):
        assemble([ld_imm64(R0, 1 << 64)])
    with pytest.raises(ValueError, match="not a conditional jump"):
        jmp_imm(0x00, R0, 0, Label("x"))  # BPF_JA: ja() says so


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (lambda end: mov64_reg(R6, R1), "(bf) r6 = r1"),
        (lambda end: mov32_imm(R0, -1), "(b4) w0 = -1"),
        (lambda end: mov32_reg(R2, R3), "(bc) w2 = w3"),
        (lambda end: alu32_imm(LSH, R1, 3), "(64) w1 <<= 3"),
        (lambda end: alu32_reg(XOR, R1, R2), "(ac) w1 ^= w2"),
        (lambda end: alu64_reg(SUB, R3, R4), "(1f) r3 -= r4"),
        (lambda end: ldx_mem(B, R0, R1, 2), "(71) r0 = *(u8 *)(r1 +2)"),
        (lambda end: ldx_mem(H, R0, R1, 2), "(69) r0 = *(u16 *)(r1 +2)"),
        (lambda end: ldx_mem(DW, R0, R1, 8), "(79) r0 = *(u64 *)(r1 +8)"),
        (lambda end: stx_mem(B, R10, R1, -1), "(73) *(u8 *)(r10 -1) = r1"),
        (lambda end: stx_mem(H, R10, R1, -2), "(6b) *(u16 *)(r10 -2) = r1"),
        (lambda end: stx_mem(W, R10, R1, -4), "(63) *(u32 *)(r10 -4) = r1"),
        (lambda end: st_mem(B, R10, -1, 7), "(72) *(u8 *)(r10 -1) = 7"),
        (lambda end: st_mem(H, R10, -2, 7), "(6a) *(u16 *)(r10 -2) = 7"),
        (lambda end: st_mem(W, R10, -4, 7), "(62) *(u32 *)(r10 -4) = 7"),
        (lambda end: st_mem(DW, R10, -8, 7), "(7a) *(u64 *)(r10 -8) = 7"),
        (lambda end: jmp32_imm(JEQ, R1, 5, end), "(16) if w1 == 0x5 goto pc+0"),
        (lambda end: jmp32_reg(JSLT, R1, R2, end), "(ce) if w1 s< w2 goto pc+0"),
        (lambda end: call_kfunc(64515), "(85) call kernel-function#64515"),
        (lambda end: ld_imm64(R2, -1), "(18) r2 = 0xffffffffffffffff"),
        (lambda end: ld_map_fd(R1, 5), "(18) r1 = 0x5"),
    ],
)  # fmt: skip
def test_each_instruction_decodes_to_the_kernels_text(
    make: Callable[[Label], Instruction], text: str
) -> None:
    end = Label("end")
    program: list[Item] = [make(end), end]
    assert listing(assemble(program)) == [text]


def test_a_kfunc_call_says_so_in_its_source_register() -> None:
    (call,) = decode(assemble([call_kfunc(64515)]))
    assert (call.src, call.imm) == (PSEUDO_KFUNC_CALL, 64515)
