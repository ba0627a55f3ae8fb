"""Counting the entries of many maps in a row, as cheaply as the kernel allows.

The kernel keeps no entry count user space can read, so a count is a read: one
BPF_MAP_LOOKUP_BATCH per batch (keys and values are copied and dropped). A scrape counts
every map of the host; with a thousand small maps, building a MapHandle, its buffers and
attribute structs per map cost more than the syscalls. An EntryCounter keeps one set of
buffers and attribute structs for all the maps it counts, and falls back to
MapHandle.count_entries (key by key) for maps that refuse batches.
"""

from __future__ import annotations

import ctypes
import errno
import os

from . import _sys
from ._sys import Cmd
from .errors import InvalidArgument, NotSupported
from .handles import Fd
from .info import MapInfo
from .map_types import is_always_full, listing_refusal
from .maps import BATCH_MAX_BYTES, BATCH_MAX_ENTRIES, MapHandle, possible_cpus

# Buffers kept between maps up to this size; a bigger map gets its own for its count.
_KEEP_BYTES = 4 << 20
_OPEN, _LOOKUP_BATCH = int(Cmd.MAP_GET_FD_BY_ID), int(Cmd.MAP_LOOKUP_BATCH)


class EntryCounter:
    """Counts entries of maps one after the other (not thread-safe: one per walk)."""

    def __init__(self) -> None:
        self._open = _sys.GetFdByIdAttr(open_flags=_sys.BPF_F_RDONLY)
        self._open_addr, self._open_size = ctypes.addressof(self._open), ctypes.sizeof(self._open)
        self._batch = _sys.MapBatchAttr()
        self._batch_addr = ctypes.addressof(self._batch)
        self._batch_size = ctypes.sizeof(self._batch)
        self._buffers: dict[str, ctypes.Array[ctypes.c_char]] = {}

    def _buffer(self, name: str, size: int) -> ctypes.Array[ctypes.c_char]:
        buf = self._buffers.get(name)
        if buf is None or len(buf) < size:
            buf = ctypes.create_string_buffer(max(size, 64))
            if size <= _KEEP_BYTES:
                self._buffers[name] = buf
        return buf

    def count(self, info: MapInfo, limit: int | None = None) -> int | None:
        """Entries of the map now; None once more than `limit` were seen. Raises NotFound
        if the map is gone, NotSupported if its entries cannot be read."""
        if is_always_full(info):
            return info.max_entries
        refusal = listing_refusal(info)
        if refusal is not None:
            raise NotSupported(95, "", f"map {info.id}", refusal)
        self._open.id = info.id
        fd = _sys.raw_syscall(_sys.NR_BPF, _OPEN, self._open_addr, self._open_size)
        if fd < 0:
            raise _sys.last_error(Cmd.MAP_GET_FD_BY_ID, f"map {info.id}")
        try:
            try:
                return self._count_batched(fd, info, limit)
            except (NotSupported, InvalidArgument):
                pass  # this map type refuses batches (errno 524 for fd arrays): key by key
            with MapHandle(Fd(os.dup(fd)), info) as handle:
                return handle.count_entries(limit)
        finally:
            _sys.close_fd(fd)

    def _count_batched(self, fd: int, info: MapInfo, limit: int | None) -> int | None:
        ks = info.key_size
        vs = ((info.value_size + 7) & ~7) * possible_cpus() if info.is_per_cpu else info.value_size
        chunk = max(1, min(info.max_entries, BATCH_MAX_ENTRIES, BATCH_MAX_BYTES // (ks + vs)))
        token = max(ks, 8)
        keys, values = self._buffer("keys", ks * chunk), self._buffer("values", vs * chunk)
        in_batch, out_batch = self._buffer("in", token), self._buffer("out", token)
        attr, attr_addr, attr_size = self._batch, self._batch_addr, self._batch_size
        count, first = 0, True
        while True:
            ctypes.memset(attr_addr, 0, attr_size)
            attr.in_batch = 0 if first else ctypes.addressof(in_batch)
            attr.out_batch = ctypes.addressof(out_batch)
            attr.keys, attr.values = ctypes.addressof(keys), ctypes.addressof(values)
            attr.count, attr.map_fd = chunk, fd
            # Raw call: the last batch of every map ends in ENOENT, and a thousand maps'
            # exceptions cost more than their syscalls.
            done = _sys.raw_syscall(_sys.NR_BPF, _LOOKUP_BATCH, attr_addr, attr_size) < 0
            if done:
                err = ctypes.get_errno()
                if err == errno.ENOSPC and chunk < (1 << 22):  # a bucket is bigger than a batch
                    chunk *= 2
                    keys = self._buffer("keys", ks * chunk)
                    values = self._buffer("values", vs * chunk)
                    continue
                if err != errno.ENOENT:  # ENOENT: the last batch; attr.count holds what it got
                    raise _sys.last_error(Cmd.MAP_LOOKUP_BATCH, f"map {info.id}")
            count += int(attr.count)
            if limit is not None and count > limit:
                return None
            if done:
                return count
            ctypes.memmove(in_batch, out_batch, token)
            first = False
