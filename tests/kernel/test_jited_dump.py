"""`phydev inspect progs dump ID jited`: every byte of the JIT image shown once, cut at the
kernel's function boundaries, instruction boundaries equal to binutils' objdump's.

Debian's bpftool cannot dump JIT code (no libbfd), so objdump, given each function's bytes,
is the oracle for where instructions start; the kernel's jited_ksyms / jited_func_lens and
kallsyms are the oracle for functions and their names.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
from pathlib import Path

import pytest

from devagent.bpf.jited import JitedInsn, disassemble_jited, function_bounds
from devagent.bpf.kallsyms import KernelSymbols
from devagent.bpf.prog_code import ProgramCode, get_program_code
from tests.conftest import InspectFixture, PacketFixture, run_phydev, without_package

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the objdump comparison is written for x86-64"
)
OBJDUMP_LINE = re.compile(r"^\s*([0-9a-f]+):\t[0-9a-f ]+\t\S", re.M)


@pytest.fixture(scope="module")
def codes(packet_fixture: PacketFixture, inspect_fixture: InspectFixture) -> list[ProgramCode]:
    ids = sorted({*packet_fixture.obj.prog_ids.values(), *inspect_fixture.obj.prog_ids.values()})
    return [get_program_code(i) for i in ids]


@pytest.fixture(scope="module")
def symbols(codes: list[ProgramCode]) -> KernelSymbols:
    return KernelSymbols()


def objdump_offsets(image: bytes, tmp: Path) -> list[int]:
    """Where objdump sees instructions start in a raw x86-64 image."""
    path = tmp / "func.bin"
    path.write_bytes(image)
    out = subprocess.run(
        ["objdump", "-D", "-b", "binary", "-m", "i386:x86-64", "--insn-width=16", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [int(m.group(1), 16) for m in OBJDUMP_LINE.finditer(out)]


def test_every_byte_once_at_objdumps_boundaries(
    codes: list[ProgramCode], symbols: KernelSymbols, tmp_path: Path
) -> None:
    multi = 0
    for code in codes:
        insns = disassemble_jited(code, symbols)
        assert code.jited and len(code.jited) == sum(code.jited_func_lens)
        # every byte exactly once, in order
        assert b"".join(x.raw for x in insns) == code.jited
        at = 0
        for x in insns:
            assert x.offset == at
            at += len(x.raw)
        assert at == len(code.jited)
        # functions: the kernel's boundaries and addresses, nothing straddles them
        bounds = function_bounds(code)
        assert len(bounds) == len(code.jited_func_lens) == len(code.jited_ksyms)
        multi += len(bounds) > 1
        for index, (start, length, address) in enumerate(bounds):
            own = [x for x in insns if x.function_index == index]
            assert own[0].offset == start and own[0].func_offset == 0
            assert own[-1].offset + len(own[-1].raw) == start + length
            assert address == code.jited_ksyms[index]
            assert all(x.address == address + x.func_offset for x in own)
            offsets = objdump_offsets(code.jited[start : start + length], tmp_path)
            assert [x.func_offset for x in own] == offsets, (code.id, index)
            assert not any(x.mnemonic == ".byte" for x in own), (code.id, index)
    assert multi >= 2, "programs with subprograms must be among those checked"


def test_functions_are_named_by_kallsyms_and_btf(
    inspect_fixture: InspectFixture, symbols: KernelSymbols
) -> None:
    code = get_program_code(inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name"))
    insns = disassemble_jited(code, symbols)
    heads = [x for x in insns if x.func_offset == 0]
    # Each function under its kallsyms name: bpf_prog_<tag>_<name>, where the main
    # function's tag is the program's on newer kernels and its own image's on 5.10.
    assert [h.symbol for h in heads] == [symbols.name_at(a) for a in code.jited_ksyms]
    assert re.fullmatch(r"bpf_prog_[0-9a-f]{16}_inspect_socket_filter_with_a_long_name",
                        heads[0].symbol or "")  # fmt: skip
    assert [h.function for h in heads] == [
        "int inspect_socket_filter_with_a_long_name(struct __sk_buff * skb)",
        "__u64 mix(__u64 a, __u64 b)",
        "int global_sum(__u32 n)",
    ]
    assert heads[1].symbol is not None and heads[1].symbol.endswith("_mix")
    # the main function calls both subprograms: the calls are named after their symbols
    callees = {x.callee for x in insns if x.function_index == 0 and x.callee}
    assert {heads[1].symbol, heads[2].symbol} <= callees
    # source lines come from the JIT line info
    assert any(x.source and x.source.text and "mix(skb->len" in x.source.text for x in insns)


def _instruction_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^\s*[0-9a-f]+:\t", line)]


def test_phydev_prints_every_instruction(
    inspect_fixture: InspectFixture, symbols: KernelSymbols
) -> None:
    prog_id = inspect_fixture.prog_id("inspect_xdp")
    insns: list[JitedInsn] = disassemble_jited(get_program_code(prog_id), symbols)
    text = run_phydev("inspect", "progs", "dump", str(prog_id), "jited", "--linum").stdout
    lines = _instruction_lines(text)
    assert len(lines) == len(insns)
    for line, x in zip(lines, insns, strict=True):
        assert line.startswith(f"{x.func_offset:4x}:\t{x.mnemonic}")
    assert "int inspect_xdp(struct xdp_md * ctx):" in text
    assert re.search(r"^; .* \[file:.*inspect\.bpf\.c line_num:\d+ line_col:\d+\]$", text, re.M)
    doc = json.loads(
        run_phydev("inspect", "progs", "dump", str(prog_id), "jited", "--json", "--opcodes").stdout
    )
    assert [f["name"] for f in doc] == [x.symbol for x in insns if x.func_offset == 0]
    flat = [i for f in doc for i in f["insns"]]
    assert [bytes(int(b, 16) for b in i["opcodes"]) for i in flat] == [x.raw for x in insns]
    assert [i["operation"] for i in flat] == [x.mnemonic for x in insns]


def test_without_capstone_the_command_says_what_to_install(
    inspect_fixture: InspectFixture, tmp_path: Path
) -> None:
    """capstone is optional: hide it (a package on PYTHONPATH whose import fails) and the
    jited dump names the missing piece, while xlated still works."""
    env = without_package("capstone", tmp_path)
    prog_id = str(inspect_fixture.prog_id("inspect_tc"))
    result = run_phydev("inspect", "progs", "dump", prog_id, "jited", check=False, env=env)
    assert result.returncode == 1
    assert "capstone" in result.stderr and "pip install" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_phydev("inspect", "progs", "dump", prog_id, env=env).stdout.count(": (") > 5
