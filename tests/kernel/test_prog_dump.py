"""`phydev inspect progs dump ID` (xlated) against `bpftool prog dump xlated`, line by line, for
every program of the test fixtures: the text, the JSON, with opcodes and with line numbers.

One known difference is normalised, narrowly: bpftool v7.1 (Debian's) predates the per-CPU
address move the kernel writes since 6.10 (`BPF_ALU64|BPF_MOV|BPF_X` with off -1), which it
prints as a plain `rD = rS`; the current kernel's disassembler, and ours, print
`rD = &(void __percpu *)(rS)`. The opcode bytes in the same dump decide where that applies.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from devagent.bpf.kallsyms import KernelSymbols
from devagent.bpf.prog_code import get_program_code
from devagent.bpf.xlated import disassemble
from devagent.cli.insn_dump import _map_names, xlated_json, xlated_text
from tests.conftest import InspectFixture, PacketFixture, bpftool_json, run_phydev

T = TypeVar("T")
PERCPU = re.compile(r"\(bf\) (r\d+) = &\(void __percpu \*\)\((r\d+)\)")


def bpftool_text(prog_id: int, *option: str) -> list[str]:
    return subprocess.run(
        ["bpftool", "prog", "dump", "xlated", "id", str(prog_id), *option],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip


def as_bpftool_v7_1(line: str) -> str:
    """Our line as bpftool v7.1 prints it (see the module docstring)."""
    return PERCPU.sub(r"(bf) \1 = \2", line)


def fixture_programs(packet_fixture: PacketFixture, inspect_fixture: InspectFixture) -> list[int]:
    return sorted({*packet_fixture.obj.prog_ids.values(), *inspect_fixture.obj.prog_ids.values()})


@pytest.fixture(scope="module")
def programs(packet_fixture: PacketFixture, inspect_fixture: InspectFixture) -> Iterator[list[int]]:
    """Every fixture program, and one loaded from raw instructions: no BTF, so no prototypes
    or source lines, a map reference and a 64-bit constant."""
    from devagent.bpf.insns import LD_IMM64
    from devagent.bpf.maps import create_map
    from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
    from devagent.bpf.objects import program_info
    from devagent.bpf.progs import insn, load_program, return_imm

    with create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name="raw_map") as map_fd:
        code = insn(LD_IMM64, dst=2, imm=0x89ABCDEF - (1 << 32)) + insn(0, imm=0x01234567)
        with load_program(PROG_TYPE_IDS["SocketFilter"], code + return_imm(-1, (map_fd.fd,)),
                          name="raw_no_btf") as prog:  # fmt: skip
            yield [*fixture_programs(packet_fixture, inspect_fixture), program_info(prog).id]


@pytest.fixture(scope="module")
def bpftool_plain(programs: list[int]) -> dict[int, list[str]]:
    """`bpftool prog dump xlated id N` of every fixture program."""
    return dict(zip(programs, in_parallel(bpftool_text, programs), strict=True))


def test_fixtures_cover_what_the_comparison_claims(
    programs: list[int], bpftool_plain: dict[int, list[str]], inspect_fixture: InspectFixture
) -> None:
    """The programs compared below hold every construct the issue names: several program
    types, subprogram calls, a loop (a backward jump), atomics, map-in-map, a tail call,
    64-bit immediates of maps, map values, subprograms and plain constants, kfunc-free
    helpers the kernel inlined, and source lines. A kernel before 5.17 gets the build
    without bpf_loop's callback (a subprogram immediate) and atomics that fetch."""
    text = "\n".join("\n".join(lines) for lines in bpftool_plain.values())
    types = {bpftool_json("prog", "show", "id", str(p))["type"] for p in programs}  # type: ignore[index]
    assert {"socket_filter", "xdp", "sched_cls", "cgroup_skb", "tracepoint"} <= types
    newer = (r"atomic64_fetch_add", r"atomic64_cmpxchg", r"atomic64_xchg", r"= subprog\[\+\d+\]")
    for needle in (
        r"call pc[+-]\d+#bpf_prog_\w+_mix", r"goto pc-\d+", r"lock \*\(u64 \*\)",
        r"call bpf_tail_call#12", r"= map\[id:\d+\]$", r"= map\[id:\d+\]\[0\]\+\d+",
        r"= 0x9e3779b97f4a7c15", r"call __htab_map_lookup_elem#", r"^; ",
        *(() if inspect_fixture.compat else newer),
    ):  # fmt: skip
        assert re.search(needle, text, re.M), needle
    # map-in-map: an outer map and the inner one used through it
    maps = {m["type"] for p in programs for m in _maps_of(p)}
    assert {"hash_of_maps", "array_of_maps", "prog_array"} <= maps


def _maps_of(prog_id: int) -> list[dict[str, object]]:
    info = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(info, dict)
    out = []
    for map_id in info.get("map_ids", []):
        m = bpftool_json("map", "show", "id", str(map_id))
        assert isinstance(m, dict)
        out.append(m)
    return out


@pytest.fixture(scope="module")
def symbols(programs: list[int]) -> KernelSymbols:
    """One read of kallsyms for all in-process dumps of this module (each costs ~60 ms)."""
    return KernelSymbols()


def ours_text(prog_id: int, symbols: KernelSymbols, *, opcodes: bool, linum: bool) -> list[str]:
    code = get_program_code(prog_id)
    return xlated_text(disassemble(code, symbols), opcodes=opcodes, linum=linum).splitlines()


def ours_json(prog_id: int, symbols: KernelSymbols, *, opcodes: bool, linum: bool) -> list:  # type: ignore[type-arg]
    insns = disassemble(get_program_code(prog_id), symbols)
    names = _map_names(x.map_id for x in insns if x.map_id is not None)
    return json.loads(json.dumps(xlated_json(insns, names.get, opcodes=opcodes, linum=linum)))


def in_parallel(fn: Callable[[int], T], items: list[int]) -> list[T]:
    """bpftool reads all of kallsyms for every dump (~0.2 s): two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fn, items))


def test_xlated_text_equals_bpftool(
    programs: list[int], symbols: KernelSymbols, bpftool_plain: dict[int, list[str]]
) -> None:
    """Plain text for every fixture program; with opcodes and with line numbers for the two
    biggest (the JSON test below checks opcodes and line numbers for all of them)."""
    for prog_id, theirs in bpftool_plain.items():
        ours = ours_text(prog_id, symbols, opcodes=False, linum=False)
        assert [as_bpftool_v7_1(line) for line in ours] == theirs, prog_id
    big = sorted(programs, key=lambda p: len(get_program_code(p).xlated))[-2:]
    for option in ("opcodes", "linum"):
        refs = in_parallel(lambda p, o=option: bpftool_text(p, o), big)  # type: ignore[misc]
        for prog_id, theirs in zip(big, refs, strict=True):
            ours = ours_text(prog_id, symbols, opcodes=option == "opcodes",
                             linum=option == "linum")  # fmt: skip
            assert [as_bpftool_v7_1(line) for line in ours] == theirs, (prog_id, option)


@pytest.mark.parametrize("option", ["opcodes", "linum"])
def test_xlated_json_equals_bpftool(
    programs: list[int], symbols: KernelSymbols, option: str
) -> None:
    """Every key bpftool gives is ours with the same value; ours adds `pc`, the referenced
    map with its name, jump targets and callees."""
    map_names: dict[int, str] = {}
    refs = in_parallel(
        lambda p: bpftool_json("prog", "dump", "xlated", "id", str(p), option), programs
    )
    for prog_id, theirs in zip(programs, refs, strict=True):
        ours = ours_json(prog_id, symbols, opcodes=option == "opcodes", linum=option == "linum")
        assert isinstance(theirs, list)
        assert len(ours) == len(theirs)
        pc = 0
        for mine, ref in zip(ours, theirs, strict=True):
            mine["disasm"] = as_bpftool_v7_1(mine["disasm"])
            assert {k: mine[k] for k in ref} == ref, (prog_id, pc)
            assert mine["pc"] == pc
            pc += 2 if mine["disasm"].startswith("(18)") else 1
            if "map" in mine:
                map_id = mine["map"]["id"]
                assert f"map[id:{map_id}]" in mine["disasm"]
                if map_id not in map_names:
                    info = bpftool_json("map", "show", "id", str(map_id))
                    assert isinstance(info, dict)
                    map_names[map_id] = info.get("name", "")
                assert mine["map"]["name"] == map_names[map_id]
            if "target" in mine and "goto" in mine["disasm"]:
                offset = int(re.search(r"pc([+-]\d+)", mine["disasm"]).group(1))  # type: ignore[union-attr]
                assert mine["target"] == mine["pc"] + offset + 1
    assert map_names, "no map reference was checked"


@pytest.mark.parametrize(
    ("flags", "option"), [([], None), (["--opcodes"], "opcodes"), (["--json", "--linum"], "linum")]
)
def test_phydev_command_prints_the_same(
    inspect_fixture: InspectFixture, flags: list[str], option: str | None
) -> None:
    """The command a person runs, in text and JSON, for one program."""
    prog_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    out = run_phydev("inspect", "progs", "dump", str(prog_id), *flags).stdout
    opts = [option] if option else []
    if "--json" in flags:
        theirs = bpftool_json("prog", "dump", "xlated", "id", str(prog_id), *opts)
        assert isinstance(theirs, list)
        ours = json.loads(out)
        assert [{k: x[k] for k in ref} for x, ref in zip(ours, theirs, strict=True)] == theirs
    else:
        assert [as_bpftool_v7_1(line) for line in out.splitlines()] == bpftool_text(prog_id, *opts)


def test_subprogram_calls_point_at_their_function(inspect_fixture: InspectFixture) -> None:
    """A subprogram call's target is where that function's prototype is printed, and the
    callee is the function's kernel symbol."""
    prog_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    ours = json.loads(run_phydev("inspect", "progs", "dump", str(prog_id), "--json").stdout)
    by_pc = {x["pc"]: x for x in ours}
    calls = [x for x in ours if x["disasm"].startswith("(85) call pc")]
    assert len(calls) == 2
    for call in calls:
        head = by_pc[call["target"]]
        name = call["callee"].rsplit("_", 1)[-1] if "mix" in call["callee"] else "global_sum"
        assert name in head["proto"], (call, head)
        assert call["callee"].startswith("bpf_prog_")


def test_unknown_program_is_a_clear_error(kernel: None) -> None:
    result = run_phydev("inspect", "progs", "dump", "999999999", check=False)
    assert result.returncode == 1
    assert "program 999999999" in result.stderr and "not found" in result.stderr.lower()
    assert "Traceback" not in result.stderr
