"""Every program's id and run counters in one pass of a BPF iterator (see iter.frame).

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

from ..agent_objects import CPUS_MAP_NAME, WALK_PROGRAM_NAME, ObjectIds
from ..btf import Btf
from ..errors import BPFError
from ..handles import Fd
from ..insns import ADD, DW, JEQ, JLT, JNE, SUB, W
from ..maps import create_map
from ..objects import map_info
from ..run_counters import CounterReader, ProgramCounters
from .asm import (
    R0,
    R1,
    R2,
    R3,
    R4,
    R6,
    R7,
    R8,
    R9,
    R10,
    Item,
    Label,
    alu64_imm,
    alu64_reg,
    call_helper,
    jmp_imm,
    ld_map_fd,
    ldx_mem,
    mov64_imm,
    mov64_reg,
    st_mem,
    stx_mem,
)
from .frame import (
    LOOKUP_PERCPU_ELEM,
    PROBE_READ_KERNEL,
    SEQ_WRITE,
    IteratorUnavailable,
    LoadedIterator,
    checked,
    function_id,
    iterator_program,
    member_offset,
    record_words,
)

PROGRAM_NAME = WALK_PROGRAM_NAME
MAP_NAME = CPUS_MAP_NAME
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

    def stack_addr(reg: int, at: int) -> list[Item]:
        return [mov64_reg(reg, R10), alu64_imm(ADD, reg, at)]

    def probe_read(dst: int, size: int) -> list[Item]:  # source address already in r3
        return [*stack_addr(R1, dst), mov64_imm(R2, size), call_helper(PROBE_READ_KERNEL)]

    cpu_loop, next_cpu = Label("cpu_loop"), Label("next_cpu")
    body: list[Item] = [
        ldx_mem(DW, R8, R7, layout.prog_aux),  # r8 = prog->aux
        ldx_mem(W, R2, R8, layout.aux_id), stx_mem(W, R10, R2, -32),
        ldx_mem(W, R2, R8, layout.aux_used_maps), stx_mem(W, R10, R2, -28),
        st_mem(DW, R10, -24, 0), st_mem(DW, R10, -16, 0), st_mem(DW, R10, -8, 0),
        mov64_reg(R3, R7), alu64_imm(ADD, R3, layout.prog_stats),
        *probe_read(-40, 8),  # the raw per-CPU pointer prog->stats
        ld_map_fd(R1, map_fd), stx_mem(DW, R10, R1, -48),
        *stack_addr(R3, -48), *probe_read(-56, 8),  # the map's address, as a number
        ldx_mem(DW, R3, R10, -56), alu64_imm(ADD, R3, layout.array_pptrs),
        *probe_read(-64, 8),  # array->pptrs[0]
        st_mem(W, R10, -68, 0), mov64_imm(R9, 0),  # key 0; r9 = CPU 0
        cpu_loop,
        ld_map_fd(R1, map_fd), *stack_addr(R2, -68), mov64_reg(R3, R9),
        call_helper(LOOKUP_PERCPU_ELEM),
        jmp_imm(JEQ, R0, 0, next_cpu),  # no such CPU
        stx_mem(DW, R10, R0, -80), *stack_addr(R3, -80), *probe_read(-88, 8),
        # r3 = prog->stats + (this CPU's element address - array->pptrs[0])
        ldx_mem(DW, R3, R10, -88), ldx_mem(DW, R4, R10, -64), alu64_reg(SUB, R3, R4),
        ldx_mem(DW, R4, R10, -40), alu64_reg(ADD, R3, R4),
        *probe_read(-112, 24),
        jmp_imm(JNE, R0, 0, next_cpu),  # the read failed
    ]  # fmt: skip
    for field, total in ((layout.stats_cnt, -24), (layout.stats_nsecs, -16),
                         (layout.stats_misses, -8)):  # fmt: skip
        body += [ldx_mem(DW, R1, R10, -112 + field), ldx_mem(DW, R2, R10, total),
                 alu64_reg(ADD, R2, R1), stx_mem(DW, R10, R2, total)]  # fmt: skip
    body += [
        next_cpu, alu64_imm(ADD, R9, 1), jmp_imm(JLT, R9, cpus, cpu_loop),
        ldx_mem(DW, R1, R6, 0), *stack_addr(R2, -32), mov64_imm(R3, RECORD.size),
        call_helper(SEQ_WRITE),
    ]  # fmt: skip
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
        self.own_ids = loaded.own_ids | ObjectIds(maps=frozenset((map_info(cpus_map).id,)))

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
        try:
            iterator = cls(loaded, cpus_map)
        except BaseException:
            loaded.close()
            cpus_map.close()
            raise
        return checked(iterator)

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
