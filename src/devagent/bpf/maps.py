"""Map access: lookup, whole-map reads (batched, with a fallback), update, delete.

Whole-map reads return two contiguous buffers (keys, values) rather than Python objects, so the
consumers can format a million entries with vectorised code instead of a per-entry loop.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from . import _sys
from ._sys import BPF_ANY, Cmd
from .errors import BPFError, InvalidArgument, NotFound, NotSupported, PermissionDenied
from .handles import Fd, open_map
from .info import MapInfo
from .map_types import can_list, is_always_full, is_lookup_supported, listing_refusal
from .objects import map_info

__all__ = ["MapDump", "MapHandle", "can_list", "create_map", "is_lookup_supported",
           "listing_refusal", "possible_cpus"]  # fmt: skip

# Maps keyed by a u32 index below max_entries: writing past it gives E2BIG, as a full hash
# does (Array, ProgramArray, PerfEventArray, PerCPUArray, CGroupArray, ArrayOfMaps, DevMap,
# SockMap, CPUMap, XSKMap, ReusePortSockArray).
_INDEXED_TYPES = frozenset({2, 3, 4, 6, 8, 12, 14, 15, 16, 17, 20})

# Entries asked of one BPF_MAP_LOOKUP_BATCH call. The kernel's time per entry is the same from
# 1k to 128k; 16k keeps a streamed dump's text per batch small: a 1M-entry dump peaks at
# 19 MiB, where 128k batches peaked at 48 (hex) to 82 MiB (number), and was no faster.
BATCH_MAX_BYTES = 32 << 20
BATCH_MAX_ENTRIES = 1 << 14


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs: per-CPU values have one slot for each of them."""
    with open("/sys/devices/system/cpu/possible") as f:
        spec = f.read().strip()
    count = 0
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        count += (int(hi) if hi else int(lo)) - int(lo) + 1
    return count


@dataclass(frozen=True)
class MapDump:
    """A whole-map read: `count` keys and values packed back to back.

    For per-CPU maps each value is `ncpus` slots of `slot_size` bytes (value_size rounded up
    to 8, as the kernel lays them out); `value_size` is the meaningful part of a slot.
    """

    key_size: int
    value_size: int
    slot_size: int
    ncpus: int  # 1 for plain maps
    count: int
    keys: bytes
    values: bytes
    per_cpu: bool

    @property
    def stride(self) -> int:
        return self.slot_size * self.ncpus

    def key(self, i: int) -> bytes:
        return self.keys[i * self.key_size : (i + 1) * self.key_size]

    def value(self, i: int) -> bytes:
        """The raw value of entry i (all CPU slots for a per-CPU map)."""
        return self.values[i * self.stride : (i + 1) * self.stride]

    def cpu_values(self, i: int) -> list[bytes]:
        """The per-CPU values of entry i, each trimmed to value_size."""
        base = i * self.stride
        return [
            self.values[base + c * self.slot_size : base + c * self.slot_size + self.value_size]
            for c in range(self.ncpus)
        ]

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for i in range(self.count):
            yield self.key(i), self.value(i)


class MapHandle:
    """An open map plus what is needed to size its buffers. Use as a context manager."""

    def __init__(self, fd: Fd, info: MapInfo) -> None:
        self.fd = fd
        self.info = info
        self.per_cpu = info.is_per_cpu
        self.ncpus = possible_cpus() if self.per_cpu else 1
        self.slot_size = (info.value_size + 7) & ~7 if self.per_cpu else info.value_size
        self.value_buf_size = self.slot_size * self.ncpus
        self._what = f"map {info.id}" + (f" ({info.name})" if info.name else "")

    @classmethod
    def open(cls, map_id: int, *, read_only: bool = False) -> MapHandle:
        """Open map `map_id`; raises NotFound if it does not exist."""
        fd = open_map(map_id, read_only=read_only)
        try:
            return cls(fd, map_info(fd, map_id))
        except BaseException:
            fd.close()
            raise

    def close(self) -> None:
        self.fd.close()

    def __enter__(self) -> MapHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ single entries

    def _key_buf(self, key: bytes | None) -> ctypes.Array[ctypes.c_char] | None:
        if key is None:
            return None
        if len(key) != self.info.key_size:
            raise InvalidArgument(
                22, "", self._what, f"key is {len(key)} bytes, the map's keys are "
                f"{self.info.key_size}"
            )  # fmt: skip
        return ctypes.create_string_buffer(key, len(key))

    def _read_elem(self, cmd: Cmd, key: bytes | None, out_size: int) -> bytes | None:
        """LOOKUP_ELEM or GET_NEXT_KEY: send a key, receive `out_size` bytes; None on ENOENT."""
        kbuf = self._key_buf(key)
        out = ctypes.create_string_buffer(max(out_size, 1))
        attr = _sys.MapElemAttr(
            map_fd=self.fd.fd, key=_sys.addr(kbuf), value_or_next_key=_sys.addr(out)
        )
        try:
            _sys.bpf(cmd, attr, what=self._what)
        except NotFound:
            return None
        return out.raw[:out_size]

    def lookup(self, key: bytes) -> bytes | None:
        """The raw value for `key` (all CPU slots for per-CPU maps), None if absent."""
        return self._read_elem(Cmd.MAP_LOOKUP_ELEM, key, self.value_buf_size)

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        """Write one entry. `value` must be value_buf_size bytes (all CPUs for per-CPU maps)."""
        kbuf = self._key_buf(key)
        if len(value) != self.value_buf_size:
            raise InvalidArgument(
                22, "", self._what,
                f"value is {len(value)} bytes, the map needs {self.value_buf_size}",
            )  # fmt: skip
        vbuf = ctypes.create_string_buffer(value, len(value))
        attr = _sys.MapElemAttr(
            map_fd=self.fd.fd, key=_sys.addr(kbuf), value_or_next_key=_sys.addr(vbuf), flags=flags
        )
        try:
            _sys.bpf(Cmd.MAP_UPDATE_ELEM, attr, what=self._what)
        except BPFError as exc:
            raise self._write_refusal(exc, key) from None

    def delete(self, key: bytes) -> None:
        """Delete one entry; raises NotFound if the key is absent."""
        kbuf = self._key_buf(key)
        attr = _sys.MapElemAttr(map_fd=self.fd.fd, key=_sys.addr(kbuf))
        try:
            _sys.bpf(Cmd.MAP_DELETE_ELEM, attr, what=self._what)
        except BPFError as exc:
            raise self._write_refusal(exc, key) from None

    def freeze(self) -> None:
        """Make the map read-only for user space from now on (BPF_MAP_FREEZE; programs may
        still write it). Irreversible."""
        _sys.bpf(Cmd.MAP_FREEZE, _sys.MapFdAttr(map_fd=self.fd.fd), what=self._what)

    def _write_refusal(self, exc: BPFError, key: bytes) -> BPFError:
        """The kernel's answer to a refused write, with the real cause where its errno text
        misleads: EPERM says "not permitted" (we would add "run as root") for a frozen or
        read-only map, and E2BIG says "Argument list too long" for a full map or an index
        past an array's end."""
        detail = None
        if exc.errno == errno.EPERM:
            from .objects import map_frozen

            if map_frozen(self.info.id):
                detail = "the map is frozen (BPF_MAP_FREEZE): user space can no longer write it"
            elif fcntl.fcntl(self.fd.fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                # Opened with BPF_F_RDONLY, or the fd a BPF_F_RDONLY map was created with.
                detail = "this fd of the map is read-only"
        elif exc.errno == errno.E2BIG:
            if self.info.type in _INDEXED_TYPES and len(key) == 4:
                index = int.from_bytes(key, sys.byteorder)
                detail = (f"index {index} is past the end of the map (indexes 0 to "
                          f"{self.info.max_entries - 1})")  # fmt: skip
            else:
                detail = (f"the map is full (max_entries {self.info.max_entries}): delete "
                          "entries first")  # fmt: skip
        if detail is None:
            return exc
        # PermissionDenied would add "run as root": the cause is named instead.
        cls = BPFError if isinstance(exc, PermissionDenied) else type(exc)
        return cls(exc.errno or 0, exc.op, exc.what, detail)

    def next_key(self, key: bytes | None) -> bytes | None:
        """The key after `key` (the first key for None); None at the end."""
        return self._read_elem(Cmd.MAP_GET_NEXT_KEY, key, self.info.key_size)

    def iter_keys(self) -> Iterator[bytes]:
        """All keys, by GET_NEXT_KEY. Bounded by max_entries so concurrent deletes, which
        make a hash map restart from its first bucket, cannot loop forever."""
        key: bytes | None = None
        for _ in range(max(self.info.max_entries, 1)):
            key = self.next_key(key)
            if key is None:
                return
            yield key

    def count_entries(self, limit: int | None = None) -> int | None:
        """Number of entries present; None once more than `limit` entries were seen (the
        count then stops: a caller with a budget learns the map is over it, not a guess).

        Array maps are always full. Others are counted with BPF_MAP_LOOKUP_BATCH, which
        copies keys and values (the kernel has no count-only command) but makes one syscall
        per batch; maps that refuse batches are counted key by key.
        """
        if is_always_full(self.info):
            return self.info.max_entries
        refusal = listing_refusal(self.info)
        if refusal is not None:
            raise NotSupported(95, "", self._what, refusal)
        count = 0
        try:
            for n in self._batch_counts():
                count += n
                if limit is not None and count > limit:
                    return None
            return count
        except (NotSupported, InvalidArgument):
            if count:
                raise
        for key in self.iter_keys():
            if self.lookup(key) is not None:  # fd arrays list every index, filled or not
                count += 1
                if limit is not None and count > limit:
                    return None
        return count

    # ------------------------------------------------------------ whole-map reads

    def read_all(self) -> MapDump:
        """Every entry, through BPF_MAP_LOOKUP_BATCH where the kernel allows it, else by
        GET_NEXT_KEY + LOOKUP (a key deleted meanwhile is skipped)."""
        parts = list(self.iter_chunks())
        if len(parts) == 1:
            return parts[0]
        keys = b"".join(p.keys for p in parts)
        values = b"".join(p.values for p in parts)
        return self._dump(sum(p.count for p in parts), keys, values)

    def iter_chunks(self) -> Iterator[MapDump]:
        """Every entry as consecutive partial dumps (one per kernel batch), so a caller that
        writes them out as they come never holds the whole map: at least one, maybe empty."""
        refusal = listing_refusal(self.info)
        if refusal is not None:
            raise NotSupported(95, "", self._what, refusal)
        batches = self._read_batched()
        try:
            first = next(batches)
        except (NotSupported, InvalidArgument):
            yield self._read_by_keys()
            return
        yield first
        yield from batches

    def _dump(self, count: int, keys: bytes, values: bytes) -> MapDump:
        return MapDump(
            key_size=self.info.key_size,
            value_size=self.info.value_size,
            slot_size=self.slot_size,
            ncpus=self.ncpus,
            count=count,
            keys=keys,
            values=values,
            per_cpu=self.per_cpu,
        )

    def _read_batched(self) -> Iterator[MapDump]:
        """One partial dump per BPF_MAP_LOOKUP_BATCH call; the first is always yielded (empty
        for an empty map), so a kernel refusal surfaces on the first next()."""
        for n, kbuf, vbuf in self._batches():
            ks, vs = self.info.key_size, self.value_buf_size
            yield self._dump(n, ctypes.string_at(kbuf, ks * n), ctypes.string_at(vbuf, vs * n))

    def _batch_counts(self) -> Iterator[int]:
        """How many entries each BPF_MAP_LOOKUP_BATCH call returned (nothing is kept)."""
        for n, _, _ in self._batches():
            yield n

    def _batches(
        self,
    ) -> Iterator[tuple[int, ctypes.Array[ctypes.c_char], ctypes.Array[ctypes.c_char]]]:
        """(count, key buffer, value buffer) per BPF_MAP_LOOKUP_BATCH call; the buffers are
        reused by the next call. The first is always yielded, even when empty."""
        ks, vs = self.info.key_size, self.value_buf_size
        chunk = max(1, min(self.info.max_entries, BATCH_MAX_ENTRIES, BATCH_MAX_BYTES // (ks + vs)))
        # The batch token is opaque: a bucket index for hashes, an index for arrays.
        token_size = max(ks, 8)
        in_batch = ctypes.create_string_buffer(token_size)
        out_batch = ctypes.create_string_buffer(token_size)
        kbuf = ctypes.create_string_buffer(ks * chunk)
        vbuf = ctypes.create_string_buffer(vs * chunk)
        first = True
        while True:
            attr = _sys.MapBatchAttr(
                in_batch=0 if first else _sys.addr(in_batch),
                out_batch=_sys.addr(out_batch),
                keys=_sys.addr(kbuf),
                values=_sys.addr(vbuf),
                count=chunk,
                map_fd=self.fd.fd,
            )
            done = False
            try:
                _sys.bpf(Cmd.MAP_LOOKUP_BATCH, attr, what=self._what)
            except NotFound:
                done = True  # ENOENT: the last batch; attr.count holds what it returned
            except BPFError as exc:
                if exc.errno == 28 and chunk < (1 << 22):  # ENOSPC: a bucket is bigger
                    chunk *= 2
                    kbuf = ctypes.create_string_buffer(ks * chunk)
                    vbuf = ctypes.create_string_buffer(vs * chunk)
                    continue
                raise
            n = attr.count
            if n or first:
                yield n, kbuf, vbuf
            if done:
                return
            ctypes.memmove(in_batch, out_batch, token_size)
            first = False

    def _read_by_keys(self) -> MapDump:
        key_parts: list[bytes] = []
        value_parts: list[bytes] = []
        for key in self.iter_keys():
            value = self.lookup(key)
            if value is None:  # deleted since GET_NEXT_KEY returned it
                continue
            key_parts.append(key)
            value_parts.append(value)
        return self._dump(len(key_parts), b"".join(key_parts), b"".join(value_parts))

    # ------------------------------------------------------------ bulk writes

    def update_batch(self, keys: bytes, values: bytes, flags: int = BPF_ANY) -> int:
        """Write many entries in one BPF_MAP_UPDATE_BATCH; returns how many were written."""
        ks, vs = self.info.key_size, self.value_buf_size
        count = len(keys) // ks
        if count * vs != len(values):
            raise InvalidArgument(22, "", self._what, "keys and values differ in count")
        kbuf = ctypes.create_string_buffer(keys, len(keys))
        vbuf = ctypes.create_string_buffer(values, len(values))
        attr = _sys.MapBatchAttr(
            keys=_sys.addr(kbuf), values=_sys.addr(vbuf), count=count,
            map_fd=self.fd.fd, elem_flags=flags,
        )  # fmt: skip
        _sys.bpf(Cmd.MAP_UPDATE_BATCH, attr, what=self._what)
        return int(attr.count)


def create_map(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    name: str = "",
    flags: int = 0,
    inner_map_fd: int = 0,
) -> Fd:
    """Create a map (used by tests and benchmarks to make real kernel objects)."""
    attr = _sys.MapCreateAttr(
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=flags,
        inner_map_fd=inner_map_fd,
        map_name=name.encode()[: _sys.OBJ_NAME_LEN - 1],
    )
    return Fd(_sys.bpf(Cmd.MAP_CREATE, attr, what=f"new map {name!r}"))
