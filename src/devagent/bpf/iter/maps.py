"""Every map's id, and the entry count the kernel keeps for hash maps, in one pass of a BPF
iterator (see iter.frame).

The `iter/bpf_map` program writes one 16-byte record per map: id, type and the sum of its
per-CPU element counters (kfunc `bpf_map_sum_elem_count`, Linux 6.6+). Hash maps of every
kind keep those counters (bpf.map_types.KERNEL_COUNTED_TYPES); for other types the kfunc
answers 0 and the count means nothing. A walk of 1000 map ids costs ~1 ms instead of ~3 ms
of GET_NEXT_ID calls, and counting 1000 small hash maps ~0 instead of ~30 ms of batch reads
(one open, one BPF_MAP_LOOKUP_BATCH and one close per map).
"""

from __future__ import annotations

import struct
from array import array
from contextlib import suppress
from dataclasses import dataclass

from ..agent_objects import MAPS_PROGRAM_NAME
from ..btf import Btf
from ..errors import BPFError
from ..info import MapInfo
from ..insns import ADD, DW, W
from ..map_types import KERNEL_COUNTED_TYPES
from .asm import (
    R0,
    R1,
    R2,
    R3,
    R6,
    R7,
    R10,
    alu64_imm,
    call_helper,
    call_kfunc,
    ldx_mem,
    mov64_imm,
    mov64_reg,
    st_mem,
    stx_mem,
)
from .frame import (
    SEQ_WRITE,
    IteratorUnavailable,
    LoadedIterator,
    checked,
    function_id,
    iterator_program,
    member_offset,
    record_words,
)

PROGRAM_NAME = MAPS_PROGRAM_NAME
RECORD = struct.Struct("=IIq")  # id, type, kernel's entry count
# Maps counted entry by entry to check the iterator's counts when it is loaded.
_CHECKED_MAPS, _CHECKED_MAX_ENTRIES = 64, 1 << 16


@dataclass(frozen=True)
class MapReading:
    """One pass of the iterator: parallel arrays in ascending id order."""

    ids: array[int]
    types: array[int]
    counts: array[int]  # meaningful for KERNEL_COUNTED_TYPES only

    def kernel_counts(self) -> dict[int, int]:
        """Map id -> entries, for the maps whose type keeps a count."""
        counted = KERNEL_COUNTED_TYPES
        return {
            map_id: count
            for map_id, map_type, count in zip(self.ids, self.types, self.counts, strict=True)
            if map_type in counted
        }


def program_code(attach_map_id: int, map_type: int, sum_elem_count: int) -> bytes:
    """The iterator's instructions (record at r10-16: id, type, count)."""
    return iterator_program([  # r7 = ctx->map
        ldx_mem(W, R2, R7, attach_map_id), stx_mem(W, R10, R2, -16),
        ldx_mem(W, R2, R7, map_type), stx_mem(W, R10, R2, -12),
        st_mem(DW, R10, -8, 0),
        mov64_reg(R1, R7), call_kfunc(sum_elem_count),
        stx_mem(DW, R10, R0, -8),
        ldx_mem(DW, R1, R6, 0), mov64_reg(R2, R10), alu64_imm(ADD, R2, -16),
        mov64_imm(R3, RECORD.size), call_helper(SEQ_WRITE),
    ])  # fmt: skip


def parse_records(data: bytes) -> MapReading:
    """The records the iterator wrote, as arrays."""
    words, quads = record_words(data, RECORD.size, signed=True)
    return MapReading(words[0::4], words[1::4], quads[1::2])


class MapIterator:
    """The loaded map iterator. `read()` may be called from any thread."""

    def __init__(self, loaded: LoadedIterator) -> None:
        self._loaded = loaded
        self.own_ids = loaded.own_ids

    @classmethod
    def open(cls, btf: Btf) -> MapIterator:
        """Load, attach and check the iterator; IteratorUnavailable says why it cannot be."""
        code = program_code(
            member_offset(btf, "bpf_map", "id"),
            member_offset(btf, "bpf_map", "map_type"),
            function_id(btf, "bpf_map_sum_elem_count"),
        )
        attach = function_id(btf, "bpf_iter_bpf_map")
        return checked(cls(LoadedIterator(code, "bpf_iter_bpf_map", attach, PROGRAM_NAME)))

    def read(self) -> MapReading:
        """Every map's id, type and (for hash maps) entry count, in ascending id order."""
        return parse_records(self._loaded.read_bytes())

    def check(self) -> None:
        """Compare one pass against bpf(): every map listed by GET_NEXT_ID before and after
        it is in the pass with its type, and small hash maps hold as many entries as their
        count says when read entry by entry just before or just after (they may change)."""
        from ..entry_counts import EntryCounter
        from ..objects import list_maps

        def infos() -> dict[int, tuple[int, int | None]]:
            counter, out, checked = EntryCounter(), {}, 0
            for info in list_maps():
                if not isinstance(info, MapInfo):
                    continue  # gone meanwhile
                count = None
                if (info.type in KERNEL_COUNTED_TYPES and checked < _CHECKED_MAPS
                        and info.max_entries <= _CHECKED_MAX_ENTRIES):  # fmt: skip
                    checked += 1
                    with suppress(BPFError):  # gone meanwhile
                        count = counter.count(info)
                out[info.id] = (info.type, count)
            return out

        before = infos()
        reading = self.read()
        after = infos()
        got = {i: (t, c) for i, t, c in zip(reading.ids, reading.types, reading.counts,
                                              strict=True)}  # fmt: skip
        for map_id in before.keys() & after.keys():
            if map_id not in got:
                raise IteratorUnavailable(f"{PROGRAM_NAME} missed map {map_id}")
            (map_type, n0), (_, n1), (seen_type, count) = before[map_id], after[map_id], got[map_id]
            if seen_type != map_type:
                raise IteratorUnavailable(
                    f"{PROGRAM_NAME} read map {map_id} as type {seen_type}, bpf() as {map_type}"
                )
            if n0 is not None and n1 is not None and not min(n0, n1) <= count <= max(n0, n1):
                raise IteratorUnavailable(
                    f"{PROGRAM_NAME} counted {count} entries in map {map_id}; reading them "
                    f"found {n0}, then {n1}"
                )

    def close(self) -> None:
        self._loaded.close()
