"""Run counters of every loaded program, read as cheaply as the kernel allows.

Rates (events/s, CPU %) need, per program, only its id and three counters of struct
bpf_prog_info: run_cnt, run_time_ns and recursion_misses. This module reads exactly that,
for every program: per program one PROG_GET_NEXT_ID, one PROG_GET_FD_BY_ID, one
OBJ_GET_INFO_BY_FD (with no output buffers: no map ids, no instructions) and a close. A live
view refreshing every second on a host with a thousand programs must cost next to nothing
(docs/PERFORMANCE.md), so the loop avoids per-call Python objects: the attributes live in
preallocated bytearrays read and written with struct, and the syscall goes through
`_sys.raw_syscall`, a ctypes function with fixed argument types (a generic wrapper building
a byref and an errno lookup per call cost ~40 % of the loop's CPU time).

The fd is closed at once: holding program fds across readings would keep unloaded programs
alive, which a debugging tool must never do.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import time
from array import array
from dataclasses import dataclass

from . import _sys
from ._sys import Cmd

_INFO_SIZE = ctypes.sizeof(_sys.ProgInfo)
_ID = struct.Struct("<I")
# run_time_ns, run_cnt and recursion_misses follow each other in struct bpf_prog_info.
_COUNTERS = struct.Struct("<QQQ")
_COUNTERS_AT = _sys.ProgInfo.run_time_ns.offset
assert _sys.ProgInfo.recursion_misses.offset == _COUNTERS_AT + 16  # noqa: S101 static layout
_MAP_COUNT_AT = _sys.ProgInfo.nr_map_ids.offset


@dataclass(frozen=True)
class ProgramCounters:
    """One reading of every program's counters, in ascending id order.

    The arrays are parallel: `ids[i]` ran `run_count[i]` times for `run_time_ns[i]` ns in
    total (both move only while run statistics are on) and missed `recursion_misses[i]`
    runs. `monotonic_ns` is CLOCK_MONOTONIC when the reading ended, `wall_time` Unix time.
    """

    monotonic_ns: int
    wall_time: float
    ids: array[int]
    run_count: array[int]
    run_time_ns: array[int]
    recursion_misses: array[int]
    map_counts: array[int]  # how many maps each program uses (bpf_prog_info.nr_map_ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays: 4 per id and 8 per counter, 28 per program."""
        arrays = (self.ids, self.run_count, self.run_time_ns, self.recursion_misses)
        return sum(a.itemsize * len(a) for a in arrays)


class _Buffer:
    """A bytearray the kernel reads or writes, and its address (fixed: never resized)."""

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)
        self.addr = ctypes.addressof((ctypes.c_char * size).from_buffer(self.data))
        self.size = size


class CounterReader:
    """Reads ProgramCounters, reusing its buffers between readings. Not thread-safe: one
    reader per thread. (bpf.iter.walkers.CounterSource reads the same in one pass of the
    agent's program iterator where the process loaded it.)"""

    def __init__(self) -> None:
        self._next = _Buffer(ctypes.sizeof(_sys.GetNextIdAttr))
        self._open = _Buffer(ctypes.sizeof(_sys.GetFdByIdAttr))
        self._info = _Buffer(_INFO_SIZE)
        self._zero = bytes(_INFO_SIZE)
        self._attr = _Buffer(ctypes.sizeof(_sys.InfoByFdAttr))
        struct.pack_into("<IIQ", self._attr.data, 0, 0, _INFO_SIZE, self._info.addr)
        # The int values of the command enum, looked up once.
        self._cmds = (int(Cmd.PROG_GET_NEXT_ID), int(Cmd.PROG_GET_FD_BY_ID))
        self._get_info = int(Cmd.OBJ_GET_INFO_BY_FD)

    def read(self) -> ProgramCounters:
        """Every loaded program's counters. A program unloaded while it is read is left out
        (it is gone); any other failure (e.g. missing privileges) raises BPFError."""
        ids: array[int] = array("I")
        counts: array[int] = array("Q")
        times: array[int] = array("Q")
        misses: array[int] = array("Q")
        map_counts: array[int] = array("I")
        nr, syscall = _sys.NR_BPF, _sys.raw_syscall
        next_cmd, open_cmd = self._cmds
        info_cmd = self._get_info
        nxt, opener, info, attr, zero = self._next, self._open, self._info, self._attr, self._zero
        pack_id, unpack_id, unpack_counters = _ID.pack_into, _ID.unpack_from, _COUNTERS.unpack_from
        pack_id(nxt.data, 0, 0)
        while True:
            if syscall(nr, next_cmd, nxt.addr, nxt.size) < 0:
                _check_end(Cmd.PROG_GET_NEXT_ID)
                break
            (prog_id,) = unpack_id(nxt.data, 4)
            pack_id(nxt.data, 0, prog_id)
            pack_id(opener.data, 0, prog_id)
            fd = syscall(nr, open_cmd, opener.addr, opener.size)
            if fd < 0:
                _check_end(Cmd.PROG_GET_FD_BY_ID, prog_id)
                continue  # unloaded since it was listed
            info.data[:] = zero  # in/out fields (nr_map_ids, ...) must be 0: no buffers
            pack_id(attr.data, 0, fd)
            ret = syscall(nr, info_cmd, attr.addr, attr.size)
            os.close(fd)
            if ret < 0:
                _check_end(Cmd.OBJ_GET_INFO_BY_FD, prog_id)
                continue
            run_time_ns, run_count, recursion_misses = unpack_counters(info.data, _COUNTERS_AT)
            ids.append(prog_id)
            counts.append(run_count)
            times.append(run_time_ns)
            misses.append(recursion_misses)
            map_counts.append(unpack_id(info.data, _MAP_COUNT_AT)[0])
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        return ProgramCounters(now, time.time(), ids, counts, times, misses, map_counts)


def _check_end(cmd: Cmd, prog_id: int = 0) -> None:
    """After a failed call: return if the errno says "no more" / "gone" (ENOENT), raise the
    matching BPFError otherwise."""
    exc = _sys.last_error(cmd, f"program {prog_id}" if prog_id else "programs")
    if exc.errno != errno.ENOENT:
        raise exc
