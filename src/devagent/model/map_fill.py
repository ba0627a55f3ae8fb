"""How full every map is: entries present against max_entries, and the memory each holds.

Users' most frequent question after "what is loaded" is map pressure. The kernel keeps no
entry count that user space can read through bpf(), so counting means reading: arrays are
always full (free), hash maps are counted by the kernel itself where the agent's map
iterator runs (bpf.iter.maps: no entry is read, no budget spent), every other map is read in
kernel batches (`bpf.maps.MapHandle.count_entries`). A
budget bounds the entries read for one snapshot; maps are counted smallest first (by
max_entries), so a few huge maps cannot starve the many small ones, and a map the budget
does not cover is reported as skipped, never estimated.

Results are kept per snapshot (Snapshot.memo): a scrape and any number of API queries of
the same snapshot count once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..bpf.entry_counts import EntryCounter
from ..bpf.errors import BPFError
from ..bpf.map_types import can_list, is_always_full
from .settings import DEFAULT_MAP_ENTRIES_BUDGET
from .snapshot import Snapshot

DEFAULT_BUDGET = DEFAULT_MAP_ENTRIES_BUDGET


@dataclass(frozen=True)
class MapFill:
    """Entry counts of a snapshot's maps under one budget.

    `counts` has every map that was counted (arrays included); `skipped` the maps left out
    because the budget ran out before or while they were read. Maps whose entries the
    kernel does not let user space read, or that vanished, are in neither.
    """

    counts: dict[int, int]
    skipped: frozenset[int]
    budget: int


def count_map_fill(snap: Snapshot, budget: int = DEFAULT_BUDGET) -> MapFill:
    """Count the entries of every countable map of the snapshot within `budget` entries."""
    counts: dict[int, int] = {}
    skipped: set[int] = set()
    left = budget
    counter = EntryCounter()
    kept = snap.kernel_entry_counts
    for info in sorted(snap.maps.values(), key=lambda m: (m.max_entries, m.id)):
        if is_always_full(info):
            counts[info.id] = info.max_entries
            continue
        if info.id in kept:
            counts[info.id] = kept[info.id]  # the kernel's own count: nothing to read
            continue
        if not can_list(info):
            continue
        if left <= 0:
            skipped.add(info.id)
            continue
        try:
            n = counter.count(info, limit=left)
        except BPFError:
            continue  # gone since the snapshot, or refused: nothing to say about it
        if n is None:
            skipped.add(info.id)
            left = 0  # it read `left` entries and found more
        else:
            counts[info.id] = n
            left -= n
    return MapFill(counts, frozenset(skipped), budget)


def map_fill(snap: Snapshot, budget: int = DEFAULT_BUDGET) -> MapFill:
    """The snapshot's map fill under `budget`, counted once per snapshot."""
    return snap.memo(("map_fill", budget), lambda: count_map_fill(snap, budget))


def map_memlocks(snap: Snapshot) -> dict[int, int]:
    """Bytes the kernel accounts to each map of the snapshot (fdinfo `memlock`), read once
    per snapshot (and, through an Inventory, once per map where it cannot change)."""
    return snap.memlocks
