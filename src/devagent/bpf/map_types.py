"""What each map type lets user space do: read its entries (and why not when it cannot),
count them cheaply, keep its memory fixed.

A table of kernel facts, checked on this kernel, kept apart from maps.py (the reading
itself) because consumers ask about it without opening anything: isLookupSupported,
dumps, --etm exports, map fill, memlock.
"""

from __future__ import annotations

from .info import MapInfo

# Map types whose entries user space cannot read, with what the kernel (6.18) answers to
# BPF_MAP_LOOKUP_ELEM. Checked by creating one map of each type and reading it
# (tests/kernel/test_map_types.py does it again on every run); the storage maps need BTF to
# be created and are keyed by fds of the caller, so no errno is recorded for them.
#     type                  lookup answer        why
_LOOKUP_REFUSED: dict[int, tuple[str, str]] = {
    0: ("", "not a map type"),  # UnspecifiedMap
    4: ("ENOTSUPP (524)", "its values are perf event fds only programs use"),  # PerfEventArray
    8: ("ENOTSUPP (524)", "its values are cgroups only programs use"),  # CGroupArray
    17: ("EOPNOTSUPP (95)", "its values are AF_XDP sockets"),  # XSKMap
    22: ("EINVAL (22)", "a queue has no keys: entries are popped or peeked"),  # Queue
    23: ("EINVAL (22)", "a stack has no keys: entries are popped or peeked"),  # Stack
    24: ("", "its keys are socket fds of the caller"),  # SkStorage
    27: ("EINVAL (22)", "a ring buffer is a byte stream read through mmap"),  # RingBuf
    28: ("", "its keys are inode fds of the caller"),  # InodeStorage
    29: ("", "its keys are pidfds of the caller"),  # TaskStorage
    30: ("EINVAL (22)", "a bloom filter only answers whether a value may be in it"),  # BloomFilter
    31: ("EINVAL (22)", "a user ring buffer is a byte stream written through mmap"),  # UserRingbuf
    32: ("", "its keys are cgroup fds of the caller"),  # CgroupStorage (cgrp local storage)
    33: ("EINVAL (22)", "an arena is memory shared through mmap, without entries"),  # Arena
}
_UNLISTABLE_TYPES = frozenset(_LOOKUP_REFUSED)


# Array-like maps: every index from 0 to max_entries-1 always holds a value.
_ALWAYS_FULL_TYPES = frozenset({2, 6})


def is_lookup_supported(map_type: int) -> bool:
    """True for the map types whose entries can be enumerated and read from user space."""
    return map_type not in _UNLISTABLE_TYPES


# SockMap, SockHash, ReusePortSockArray: user space reads an entry as its socket's 8-byte
# cookie, and the kernel answers ENOSPC for any other value size (a map made with 4-byte
# values, for socket fds, can be written but never read).
_COOKIE_TYPES = frozenset({15, 18, 20})


def listing_refusal(info: MapInfo) -> str | None:
    """Why the kernel will not hand this map's entries to user space, or None if it will."""
    refused = _LOOKUP_REFUSED.get(info.type)
    if refused is not None:
        answer, why = refused
        said = f" (the kernel answers {answer} to lookups)" if answer else ""
        return f"{info.type_name} maps cannot be listed: {why}{said}"
    if info.type in _COOKIE_TYPES and info.value_size != 8:
        return (
            f"{info.type_name} entries read back as 8-byte socket cookies; this map's values "
            f"are {info.value_size} bytes, so the kernel refuses to read them"
        )
    return None


def can_list(info: MapInfo) -> bool:
    return listing_refusal(info) is None


# Maps whose memory the kernel accounts once, at creation (fdinfo `memlock` never moves):
# preallocated hashes (no BPF_F_NO_PREALLOC) and array-like maps. Hashes without
# preallocation and LPM tries (always without) grow with their entries: not in here.
_PREALLOCATED_HASHES = frozenset({1, 5, 9, 10, 13})  # Hash, PerCPUHash, LRU(CPU)Hash, HashOfMaps
_FIXED_SIZE_TYPES = frozenset({2, 3, 4, 6, 8, 12, 27})  # arrays, prog/perf/cgroup arrays, ringbuf
BPF_F_NO_PREALLOC = 1


def memlock_is_static(info: MapInfo) -> bool:
    """Whether the map's accounted memory is fixed for its life (so it can be read once)."""
    if info.type in _PREALLOCATED_HASHES:
        return not info.flags & BPF_F_NO_PREALLOC
    return info.type in _FIXED_SIZE_TYPES


def is_always_full(info: MapInfo) -> bool:
    """Array and per-CPU array maps hold a value at every index below max_entries."""
    return info.type in _ALWAYS_FULL_TYPES


# Hash maps of every kind keep a per-CPU count of their elements (since Linux 6.6), which
# the kfunc bpf_map_sum_elem_count sums: the agent's map iterator (bpf.iter.maps) reads it,
# so these maps are counted without reading their entries. Checked against a read of every
# entry for each type, preallocated or not, LRU maps after evictions included
# (tests/kernel/test_bpf_iter.py); other types have no count (the kfunc answers 0).
KERNEL_COUNTED_TYPES = frozenset({1, 5, 9, 10, 13})  # Hash, PerCPUHash, LRU(CPU)Hash, HashOfMaps
