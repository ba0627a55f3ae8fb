"""What each map type lets user space do: list its entries, count them cheaply, keep its
memory fixed. Facts about types, checked on the kernel, kept apart from the code that reads
maps (maps.py) so that every layer can ask them without importing that code."""

from __future__ import annotations

from .info import MapInfo

# Map types whose entries user space cannot list (no keys, or keys that are fds / sockets
# of the caller): PerfEventArray, XSKMap, Queue, Stack, SkStorage, RingBuf, InodeStorage,
# TaskStorage, BloomFilter, UserRingbuf, CgroupStorage (cgrp local storage), Arena.
_UNLISTABLE_TYPES = frozenset({0, 4, 17, 22, 23, 24, 27, 28, 29, 30, 31, 32, 33})

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
    if not is_lookup_supported(info.type):
        return f"{info.type_name} maps cannot be listed"
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
