"""Raw access to the bpf(2) syscall: command numbers, attribute and *_info structs (ctypes).

Layouts follow include/uapi/linux/bpf.h. Every call passes the size of the struct it sends, so
an older kernel zero-fills the fields it does not know or refuses what it cannot do, and a newer
kernel sees zeroes in the fields we do not know.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from enum import IntEnum

from .errors import BPFError

u8 = ctypes.c_uint8
u32 = ctypes.c_uint32
s32 = ctypes.c_int32
u64 = ctypes.c_uint64

OBJ_NAME_LEN = 16
TAG_SIZE = 8

_SYSCALL_NR = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351}


class Cmd(IntEnum):
    """enum bpf_cmd."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34


# Map update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST).
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

# Open flags for *_GET_FD_BY_ID and OBJ_GET.
BPF_F_RDONLY = 1 << 3

BPF_STATS_RUN_TIME = 0


class GetNextIdAttr(ctypes.Structure):
    _fields_ = (("start_id", u32), ("next_id", u32), ("open_flags", u32))


class GetFdByIdAttr(ctypes.Structure):
    _fields_ = (("id", u32), ("next_id", u32), ("open_flags", u32))


class InfoByFdAttr(ctypes.Structure):
    _fields_ = (("bpf_fd", u32), ("info_len", u32), ("info", u64))


class ObjPinAttr(ctypes.Structure):
    _fields_ = (("pathname", u64), ("bpf_fd", u32), ("file_flags", u32), ("path_fd", s32))


class MapElemAttr(ctypes.Structure):
    _fields_ = (
        ("map_fd", u32),
        ("_pad", u32),
        ("key", u64),
        ("value_or_next_key", u64),
        ("flags", u64),
    )


class MapFdAttr(ctypes.Structure):
    """BPF_MAP_FREEZE: the map's fd alone."""

    _fields_ = (("map_fd", u32),)


class MapBatchAttr(ctypes.Structure):
    _fields_ = (
        ("in_batch", u64),
        ("out_batch", u64),
        ("keys", u64),
        ("values", u64),
        ("count", u32),
        ("map_fd", u32),
        ("elem_flags", u64),
        ("flags", u64),
    )


class MapCreateAttr(ctypes.Structure):
    _fields_ = (
        ("map_type", u32),
        ("key_size", u32),
        ("value_size", u32),
        ("max_entries", u32),
        ("map_flags", u32),
        ("inner_map_fd", u32),
        ("numa_node", u32),
        ("map_name", ctypes.c_char * OBJ_NAME_LEN),
        ("map_ifindex", u32),
        ("btf_fd", u32),
        ("btf_key_type_id", u32),
        ("btf_value_type_id", u32),
        ("btf_vmlinux_value_type_id", u32),
        ("map_extra", u64),
    )


class LinkCreateAttr(ctypes.Structure):
    """link_create: prog_fd, target fd or ifindex, attach type, flags, then a per-type union."""

    _fields_ = (
        ("prog_fd", u32),
        ("target", u32),
        ("attach_type", u32),
        ("flags", u32),
        ("_union", u8 * 32),
    )


class IterCreateAttr(ctypes.Structure):
    _fields_ = (("link_fd", u32), ("flags", u32))


class EnableStatsAttr(ctypes.Structure):
    _fields_ = (("type", u32),)


class TaskFdQueryAttr(ctypes.Structure):
    _fields_ = (
        ("pid", u32),
        ("fd", u32),
        ("flags", u32),
        ("buf_len", u32),
        ("buf", u64),
        ("prog_id", u32),
        ("fd_type", u32),
        ("probe_offset", u64),
        ("probe_addr", u64),
    )


class ProgInfo(ctypes.Structure):
    """struct bpf_prog_info."""

    _fields_ = (
        ("type", u32),
        ("id", u32),
        ("tag", u8 * TAG_SIZE),
        ("jited_prog_len", u32),
        ("xlated_prog_len", u32),
        ("jited_prog_insns", u64),
        ("xlated_prog_insns", u64),
        ("load_time", u64),
        ("created_by_uid", u32),
        ("nr_map_ids", u32),
        ("map_ids", u64),
        ("name", ctypes.c_char * OBJ_NAME_LEN),
        ("ifindex", u32),
        ("gpl_compatible", u32),  # bit 0; the other 31 bits are padding
        ("netns_dev", u64),
        ("netns_ino", u64),
        ("nr_jited_ksyms", u32),
        ("nr_jited_func_lens", u32),
        ("jited_ksyms", u64),
        ("jited_func_lens", u64),
        ("btf_id", u32),
        ("func_info_rec_size", u32),
        ("func_info", u64),
        ("nr_func_info", u32),
        ("nr_line_info", u32),
        ("line_info", u64),
        ("jited_line_info", u64),
        ("nr_jited_line_info", u32),
        ("line_info_rec_size", u32),
        ("jited_line_info_rec_size", u32),
        ("nr_prog_tags", u32),
        ("prog_tags", u64),
        ("run_time_ns", u64),
        ("run_cnt", u64),
        ("recursion_misses", u64),
        ("verified_insns", u32),
        ("attach_btf_obj_id", u32),
        ("attach_btf_id", u32),
        ("_pad", u32),
    )


class MapInfo(ctypes.Structure):
    """struct bpf_map_info (without the 6.16+ hash fields, which are input pointers)."""

    _fields_ = (
        ("type", u32),
        ("id", u32),
        ("key_size", u32),
        ("value_size", u32),
        ("max_entries", u32),
        ("map_flags", u32),
        ("name", ctypes.c_char * OBJ_NAME_LEN),
        ("ifindex", u32),
        ("btf_vmlinux_value_type_id", u32),
        ("netns_dev", u64),
        ("netns_ino", u64),
        ("btf_id", u32),
        ("btf_key_type_id", u32),
        ("btf_value_type_id", u32),
        ("btf_vmlinux_id", u32),
        ("map_extra", u64),
    )


class BtfInfo(ctypes.Structure):
    """struct bpf_btf_info."""

    _fields_ = (
        ("btf", u64),
        ("btf_size", u32),
        ("id", u32),
        ("name", u64),
        ("name_len", u32),
        ("kernel_btf", u32),
    )


LINK_INFO_UNION_SIZE = 64


class LinkInfo(ctypes.Structure):
    """struct bpf_link_info; the per-type union is kept as raw bytes and decoded in links.py."""

    _fields_ = (
        ("type", u32),
        ("id", u32),
        ("prog_id", u32),
        ("_pad", u32),
        ("union", u8 * LINK_INFO_UNION_SIZE),
    )


def _load_libc() -> ctypes.CDLL:
    """The C library the interpreter already has loaded (dlopen(NULL)): no search for it, and
    no `ctypes.util`, whose import (subprocess, tempfile, ...) is slower than the lookup."""
    return ctypes.CDLL(None, use_errno=True)


libc = _load_libc()  # also used for malloc_trim (devagent.runtime.memory)
# A typed prototype of syscall(2): ctypes converts the arguments straight from Python ints
# (no c_int/c_uint objects per call), which saves ~1.3 us of each of the thousands of calls a
# walk makes. Passing the variadic arguments as fixed ones is what the Linux x86-64, arm64,
# ppc64le and s390x ABIs do for integers and pointers anyway. The walks' loops call it
# directly, `raw_syscall(NR_BPF, cmd, attr_addr, attr_size)`, and build an error with
# `last_error` only for a call that failed.
raw_syscall = ctypes.CFUNCTYPE(
    ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, use_errno=True
)(("syscall", libc))
NR_BPF = _SYSCALL_NR.get(os.uname().machine, 321)


def addr(obj: ctypes._CData | None) -> int:
    """Address of a ctypes object as the u64 the kernel expects (0 for None)."""
    return 0 if obj is None else ctypes.addressof(obj)


def last_error(cmd: Cmd, what: str = "") -> BPFError:
    """The BPFError for the errno of the bpf() call that just failed on this thread."""
    return BPFError.from_errno(ctypes.get_errno(), cmd.name, what)


# Commands that charge the new object's memory to RLIMIT_MEMLOCK on kernels before 5.11
# (later ones charge the memory cgroup instead).
_CHARGED = frozenset({Cmd.MAP_CREATE, Cmd.PROG_LOAD, Cmd.BTF_LOAD})


def bpf(cmd: Cmd, attr: ctypes.Structure, *, what: str = "") -> int:
    """Issue one bpf() command; return its result or raise the matching BPFError.

    A create refused with EPERM under a finite RLIMIT_MEMLOCK is tried once more after
    raising the limit: kernels before 5.11 charge maps and programs to it, and its usual
    default (64 KiB, 8 MiB) is spent by a few maps. bpftool and libbpf do the same.
    """
    ret: int = raw_syscall(NR_BPF, cmd, ctypes.addressof(attr), ctypes.sizeof(attr))
    if ret < 0:
        # No local name for the error: the raising frame would refer to it, and it to the
        # frame through its traceback, a cycle only the collector frees (with whatever the
        # callers' frames hold, e.g. a snapshot).
        if cmd in _CHARGED and ctypes.get_errno() == 1 and raise_memlock_limit():  # EPERM
            return bpf(cmd, attr, what=what)
        raise last_error(cmd, what)
    return ret


def raise_memlock_limit() -> bool:
    """Lift RLIMIT_MEMLOCK as far as this process may (unlimited with CAP_SYS_RESOURCE, else
    up to the hard limit); True if it went up."""
    import resource

    unlimited = resource.RLIM_INFINITY
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == unlimited:
        return False
    for limits in ((unlimited, unlimited), (hard, hard)):
        if limits[0] != unlimited and limits[0] <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, limits)
        except (ValueError, OSError):
            continue
        return True
    return False


def unpacker(struct_type: type[ctypes.Structure]) -> struct.Struct:
    """A struct.Struct reading every field of a ctypes Structure in one call, in field order
    (arrays as bytes, padding skipped): reading 40 fields through ctypes attributes costs
    ~5 us per object, one unpack_from a fraction of that."""
    codes = {1: "B", 2: "H", 4: "I", 8: "Q"}
    fmt = "="
    pos = 0
    for name, ctype in struct_type._fields_:  # type: ignore[misc]
        field = getattr(struct_type, name)
        if field.offset > pos:
            fmt += f"{field.offset - pos}x"
        if issubclass(ctype, ctypes.Array):
            fmt += f"{field.size}s"
        else:
            fmt += codes[field.size]
        pos = field.offset + field.size
    size = ctypes.sizeof(struct_type)
    if size > pos:
        fmt += f"{size - pos}x"
    return struct.Struct(fmt)


def close_fd(fd: int) -> None:
    """Close an fd, ignoring EBADF (double close in error paths)."""
    with contextlib.suppress(OSError):
        os.close(fd)
