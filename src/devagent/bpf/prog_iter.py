"""Every program's id and run counters in one pass of a BPF iterator (see bpf.bpf_iter).

The `iter/bpf_prog` program writes one 32-byte record per program: id, number of used maps,
run_cnt, run_time_ns and recursion_misses, ~0.6 ms for 1000 programs where bpf() calls cost
~16 ms.

The counters live in per-CPU `struct bpf_prog_stats`. Summing them in BPF needs each CPU's
per-CPU offset, which `bpf_per_cpu_ptr` would give only for a pointer the verifier knows to
be per-CPU (the vmlinux BTF of common distribution kernels carries no `__percpu` type tags)
or for a per-CPU kernel symbol (not in kallsyms without CONFIG_KALLSYMS_ALL). The program
derives the offsets from a one-slot per-CPU array map of its own instead: the address that
`bpf_map_lookup_percpu_elem` returns for CPU n, minus the array's raw per-CPU pointer
(`bpf_array.pptrs[0]`), is CPU n's offset. Every read of kernel memory goes through
`bpf_probe_read_kernel`, which cannot fault; struct offsets come from the running kernel's
BTF; `ProgramIterator.open` checks a pass against OBJ_GET_INFO_BY_FD of every program
before it is used.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from .bpf_iter import (
    ADD_IMM,
    ADD_REG,
    CALL,
    JEQ_IMM,
    JLT_IMM,
    JNE_IMM,
    LD_IMM64,
    LDX_DW,
    LDX_W,
    LOOKUP_PERCPU_ELEM,
    MOV_IMM,
    MOV_REG,
    PROBE_READ_KERNEL,
    PSEUDO_MAP_FD,
    SEQ_WRITE,
    ST_DW,
    ST_W,
    STX_DW,
    STX_W,
    SUB_REG,
    IteratorUnavailable,
    LoadedIterator,
    checked,
    function_id,
    iterator_program,
    member_offset,
    record_words,
)  # fmt: skip
from .btf import Btf
from .counters import CounterReader, ProgramCounters
from .errors import BPFError
from .handles import Fd
from .maps import create_map
from .progs import insn

PROGRAM_NAME = "phydev_walk"
MAP_NAME = "phydev_cpus"
RECORD = struct.Struct("=IIQQQ")  # id, used maps, run_cnt, run_time_ns, recursion_misses
_PERCPU_ARRAY = 6


@dataclass(frozen=True)
class Layout:
    """Where the iterator finds what it reads, from the running kernel's BTF."""

    attach_func_id: int  # BTF id of bpf_iter_bpf_prog
    prog_aux: int  # offsetof(struct bpf_prog, aux)
    prog_stats: int  # offsetof(struct bpf_prog, stats)
    aux_id: int  # offsetof(struct bpf_prog_aux, id)
    aux_used_maps: int  # offsetof(struct bpf_prog_aux, used_map_cnt)
    stats_cnt: int  # offsetof(struct bpf_prog_stats, cnt), then nsecs and misses
    stats_nsecs: int
    stats_misses: int
    array_pptrs: int  # offsetof(struct bpf_array, pptrs)


def layout_from_btf(btf: Btf) -> Layout:
    """The Layout of the kernel `btf` (vmlinux) describes; IteratorUnavailable names the
    type or member it lacks."""
    return Layout(
        attach_func_id=function_id(btf, "bpf_iter_bpf_prog"),
        prog_aux=member_offset(btf, "bpf_prog", "aux"),
        prog_stats=member_offset(btf, "bpf_prog", "stats"),
        aux_id=member_offset(btf, "bpf_prog_aux", "id"),
        aux_used_maps=member_offset(btf, "bpf_prog_aux", "used_map_cnt"),
        stats_cnt=member_offset(btf, "bpf_prog_stats", "cnt"),
        stats_nsecs=member_offset(btf, "bpf_prog_stats", "nsecs"),
        stats_misses=member_offset(btf, "bpf_prog_stats", "misses"),
        array_pptrs=member_offset(btf, "bpf_array", "pptrs"),
    )


def cpu_slots() -> int:
    """One past the highest possible CPU number: the CPUs whose counters are summed."""
    with open("/sys/devices/system/cpu/possible") as f:
        last = f.read().strip().replace("-", ",").split(",")[-1]
    return int(last) + 1


def program_code(layout: Layout, map_fd: int, cpus: int) -> bytes:
    """The iterator's instructions. Stack (offsets from r10): the record at -32 (id, used
    maps, cnt, nsecs, misses), the program's raw per-CPU stats pointer at -40, the map's
    address at -56 (spilled at -48), the array's raw per-CPU pointer at -64, key 0 at -68,
    a CPU's element address at -88 (spilled at -80), one CPU's stats at -112."""

    def load_map(reg: int) -> list[bytes]:
        return [insn(LD_IMM64, reg, PSEUDO_MAP_FD, 0, map_fd), insn(0)]

    def probe_read(dst: int, size: int) -> list[bytes]:  # source address already in r3
        return [insn(MOV_REG, 1, 10), insn(ADD_IMM, 1, 0, 0, dst),
                insn(MOV_IMM, 2, 0, 0, size), insn(CALL, imm=PROBE_READ_KERNEL)]  # fmt: skip

    def stack_addr(reg: int, at: int) -> list[bytes]:
        return [insn(MOV_REG, reg, 10), insn(ADD_IMM, reg, 0, 0, at)]

    body = [
        insn(LDX_DW, 8, 7, layout.prog_aux),  # r8 = prog->aux
        insn(LDX_W, 2, 8, layout.aux_id), insn(STX_W, 10, 2, -32),
        insn(LDX_W, 2, 8, layout.aux_used_maps), insn(STX_W, 10, 2, -28),
        insn(ST_DW, 10, 0, -24, 0), insn(ST_DW, 10, 0, -16, 0), insn(ST_DW, 10, 0, -8, 0),
        insn(MOV_REG, 3, 7), insn(ADD_IMM, 3, 0, 0, layout.prog_stats),
        *probe_read(-40, 8),  # the raw per-CPU pointer prog->stats
        *load_map(1), insn(STX_DW, 10, 1, -48),
        *stack_addr(3, -48), *probe_read(-56, 8),  # the map's address, as a number
        insn(LDX_DW, 3, 10, -56), insn(ADD_IMM, 3, 0, 0, layout.array_pptrs),
        *probe_read(-64, 8),  # array->pptrs[0]
        insn(ST_W, 10, 0, -68, 0), insn(MOV_IMM, 9, 0, 0, 0),  # key 0; r9 = CPU 0
    ]  # fmt: skip
    loop: list[bytes | None] = [
        *load_map(1), *stack_addr(2, -68), insn(MOV_REG, 3, 9),
        insn(CALL, imm=LOOKUP_PERCPU_ELEM),
        None,  # if r0 == 0 (no such CPU): next CPU
        insn(STX_DW, 10, 0, -80), *stack_addr(3, -80), *probe_read(-88, 8),
        # r3 = prog->stats + (this CPU's element address - array->pptrs[0])
        insn(LDX_DW, 3, 10, -88), insn(LDX_DW, 4, 10, -64), insn(SUB_REG, 3, 4),
        insn(LDX_DW, 4, 10, -40), insn(ADD_REG, 3, 4),
        *probe_read(-112, 24),
        None,  # if the read failed: next CPU
    ]  # fmt: skip
    for field, total in ((layout.stats_cnt, -24), (layout.stats_nsecs, -16),
                         (layout.stats_misses, -8)):  # fmt: skip
        loop += [insn(LDX_DW, 1, 10, -112 + field), insn(LDX_DW, 2, 10, total),
                 insn(ADD_REG, 2, 1), insn(STX_DW, 10, 2, total)]  # fmt: skip
    end = len(loop)
    first = loop.index(None)
    loop[first] = insn(JEQ_IMM, 0, 0, end - first - 1, 0)
    second = loop.index(None)
    loop[second] = insn(JNE_IMM, 0, 0, end - second - 1, 0)
    loop += [insn(ADD_IMM, 9, 0, 0, 1), insn(JLT_IMM, 9, 0, -(end + 2), cpus)]
    write = [insn(LDX_DW, 1, 6, 0), *stack_addr(2, -32), insn(MOV_IMM, 3, 0, 0, RECORD.size),
             insn(CALL, imm=SEQ_WRITE)]  # fmt: skip
    body += [x for x in loop if x is not None] + write
    return iterator_program(body)  # r7 = ctx->prog


@dataclass(frozen=True)
class Reading:
    """One pass of the iterator: parallel arrays in ascending id order."""

    ids: array[int]
    map_counts: array[int]  # how many maps each program uses (bpf_prog_info.nr_map_ids)
    run_count: array[int]
    run_time_ns: array[int]
    recursion_misses: array[int]


def parse_records(data: bytes) -> Reading:
    """The records the iterator wrote, as arrays (C-level slicing, no object per program)."""
    words, quads = record_words(data, RECORD.size)
    return Reading(words[0::8], words[1::8], quads[1::4], quads[2::4], quads[3::4])


class ProgramIterator:
    """The loaded program iterator and its per-CPU array. `read()` may be called from any
    thread."""

    def __init__(self, loaded: LoadedIterator, cpus_map: Fd) -> None:
        self._loaded, self._map = loaded, cpus_map

    @classmethod
    def open(cls, btf: Btf) -> ProgramIterator:
        """Load, attach and check the iterator; IteratorUnavailable says why it cannot be."""
        layout = layout_from_btf(btf)
        try:
            cpus_map = create_map(_PERCPU_ARRAY, 4, 8, 1, name=MAP_NAME)
        except BPFError as exc:
            raise IteratorUnavailable(f"cannot create {MAP_NAME}: {exc}") from exc
        try:
            code = program_code(layout, cpus_map.fd, cpu_slots())
            loaded = LoadedIterator(code, "bpf_iter_bpf_prog", layout.attach_func_id,
                                    PROGRAM_NAME)  # fmt: skip
        except BaseException:
            cpus_map.close()
            raise
        return checked(cls(loaded, cpus_map))

    def read(self) -> Reading:
        """Every loaded program's id, used-map count and counters, in ascending id order."""
        return parse_records(self._loaded.read_bytes())

    def check(self) -> None:
        """Compare one pass against OBJ_GET_INFO_BY_FD of every program, read just before
        and just after it: ids, map counts and counters between the two readings. A kernel
        whose structs do not mean what their BTF says is refused here, not misreported."""
        before = CounterReader().read()
        reading = self.read()
        after = CounterReader().read()
        low, high = _by_id(before), _by_id(after)
        seen, own_id = set(reading.ids), self._loaded.program_id
        for prog_id in low.keys() & high.keys():
            if prog_id not in seen:
                raise IteratorUnavailable(f"{PROGRAM_NAME} missed program {prog_id}")
        for i, prog_id in enumerate(reading.ids):
            if prog_id not in low or prog_id not in high or prog_id == own_id:
                continue
            (c0, t0, m0), (c1, t1, m1) = low[prog_id], high[prog_id]
            got = (reading.run_count[i], reading.run_time_ns[i], reading.map_counts[i])
            if not (c0 <= got[0] <= c1 and t0 <= got[1] <= t1 and m0 <= got[2] <= m1):
                raise IteratorUnavailable(
                    f"{PROGRAM_NAME} read program {prog_id} as {got} (run_cnt, run_time_ns, "
                    f"maps), bpf() as {low[prog_id]} then {high[prog_id]}"
                )

    def close(self) -> None:
        self._loaded.close()
        self._map.close()


def _by_id(reading: ProgramCounters) -> dict[int, tuple[int, int, int]]:
    """id -> (run_cnt, run_time_ns, map count) of a bpf() walk."""
    values = zip(reading.run_count, reading.run_time_ns, reading.map_counts, strict=True)
    return dict(zip(reading.ids, values, strict=True))
