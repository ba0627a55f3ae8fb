"""Describe kernel eBPF objects (programs, maps, links) by id, and list them all.

Every listing yields either an info dataclass or an ObjectError: an object that vanished
between enumeration and open is data, never an exception out of the listing.
"""

from __future__ import annotations

import ctypes
import operator
import os
import time
from typing import TYPE_CHECKING

from . import _sys
from ._sys import Cmd
from .errors import BPFError
from .handles import (
    Fd,
    by_id,
    c_string,
    get_info_by_fd,
    iter_link_ids,
    iter_map_ids,
    iter_program_ids,
    list_each,
    open_link,
    open_map,
    open_program,
)
from .info import LinkInfo, MapInfo, ObjectError, ProgramInfo
from .links import decode_link_details
from .procfs import read_fdinfo

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

# ---------------------------------------------------------------- info readers


def _boot_to_wall_offset_ns() -> int:
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _picker(struct_type: type[ctypes.Structure], names: str) -> Callable[[Any], tuple[Any, ...]]:
    """A function taking the fields `names` (space-separated, in that order) out of the
    tuple `_sys.unpacker(struct_type)` reads: one C call instead of a lookup per field."""
    index = {name: i for i, (name, _) in enumerate(struct_type._fields_)}  # type: ignore[misc]
    return operator.itemgetter(*(index[n] for n in names.split()))


_PROG = _sys.unpacker(_sys.ProgInfo)
_MAP = _sys.unpacker(_sys.MapInfo)
# ProgramInfo's fields in its order, as named in struct bpf_prog_info (loaded_at_ns, which
# the kernel does not give, is computed; nr_map_ids says how many map ids were written).
_PROG_FIELDS = _picker(
    _sys.ProgInfo,
    "id type name tag jited_prog_len xlated_prog_len load_time created_by_uid btf_id "
    "run_time_ns run_cnt recursion_misses verified_insns ifindex netns_dev netns_ino "
    "gpl_compatible attach_btf_obj_id attach_btf_id nr_func_info nr_line_info nr_map_ids",
)
_MAP_FIELDS = _picker(
    _sys.MapInfo,
    "id type name key_size value_size max_entries map_flags ifindex netns_dev netns_ino "
    "btf_id btf_key_type_id btf_value_type_id btf_vmlinux_value_type_id btf_vmlinux_id "
    "map_extra",
)
# Fields of bpf_prog_info that newer kernels added, by their index in ProgramInfo: where the
# kernel's struct (the info_len it writes back) ends before one, the field is None.
_LATE_PROG_FIELDS = tuple(
    (index, getattr(_sys.ProgInfo, name).offset + getattr(_sys.ProgInfo, name).size)
    for index, name in ((13, "recursion_misses"), (14, "verified_insns"),
                        (19, "attach_btf_obj_id"), (20, "attach_btf_id"))
)  # fmt: skip
_FULL_PROG_INFO = max(end for _, end in _LATE_PROG_FIELDS)
_MAP_IDS_INLINE = 64  # the kernel's MAX_USED_MAPS (a kernel allowing more: read again, bigger)
_GET_INFO = int(Cmd.OBJ_GET_INFO_BY_FD)
_new_tuple = tuple.__new__  # builds a NamedTuple from a tuple without its __new__'s call


class _InfoReader:
    """Opens objects of one kind by id and reads their *_info struct, reusing one set of
    buffers and attribute structs for a whole listing: a walk reads thousands of objects,
    and allocating ctypes objects, building error texts or raising per object cost more
    than the syscalls. `read_all` is the walk's loop: raw syscalls, Python exceptions only
    for an object that fails."""

    def __init__(self, info_type: type[ctypes.Structure], open_cmd: Cmd, kind: str) -> None:
        self.info = info_type()
        self._info_addr = ctypes.addressof(self.info)
        self._info_size = ctypes.sizeof(self.info)
        self._open_attr = _sys.GetFdByIdAttr(open_flags=0)
        self._open_addr = ctypes.addressof(self._open_attr)
        self._open_size = ctypes.sizeof(self._open_attr)
        self._get_attr = _sys.InfoByFdAttr(info_len=self._info_size, info=self._info_addr)
        self._get_addr = ctypes.addressof(self._get_attr)
        self._get_size = ctypes.sizeof(self._get_attr)
        self._open_cmd = open_cmd
        self.kind = kind

    def fill(self, fd: int, obj_id: int) -> None:
        """Zero the info buffer, let `prepare` set output pointers, and ask the kernel."""
        ctypes.memset(self._info_addr, 0, self._info_size)
        self.prepare()
        self._get_attr.bpf_fd = fd
        if _sys.raw_syscall(_sys.NR_BPF, _GET_INFO, self._get_addr, self._get_size) < 0:
            what = f"{self.kind} {obj_id}" if obj_id else self.kind
            raise _sys.last_error(Cmd.OBJ_GET_INFO_BY_FD, what)

    def prepare(self) -> None:
        """Set the output buffers of the info struct (none by default)."""

    def read(self, fd: int, obj_id: int = 0) -> Any:
        raise NotImplementedError

    def read_all(self, ids: Iterable[int]) -> list[Any]:
        """Open, read and close each object in turn; one that cannot be read becomes an
        ObjectError (it may have been unloaded since its id was listed)."""
        out: list[Any] = []
        append, read, close, kind = out.append, self.read, os.close, self.kind
        syscall, nr = _sys.raw_syscall, _sys.NR_BPF
        open_cmd = int(self._open_cmd)
        attr, addr, size = self._open_attr, self._open_addr, self._open_size
        for obj_id in ids:
            attr.id = obj_id
            fd = syscall(nr, open_cmd, addr, size)
            if fd < 0:
                exc = _sys.last_error(self._open_cmd, f"{kind} {obj_id}")
                append(ObjectError(obj_id, kind, str(exc)))
                continue
            try:
                append(read(fd, obj_id))
            except BPFError as exc:
                append(ObjectError(obj_id, kind, str(exc)))
            finally:
                close(fd)
        return out


class _ProgramReader(_InfoReader):
    def __init__(self) -> None:
        super().__init__(_sys.ProgInfo, Cmd.PROG_GET_FD_BY_ID, "program")
        self._ids = (ctypes.c_uint32 * _MAP_IDS_INLINE)()
        self._boot_to_wall = _boot_to_wall_offset_ns()

    def prepare(self) -> None:
        info = self.info
        info.nr_map_ids = len(self._ids)
        info.map_ids = ctypes.addressof(self._ids)

    def read(self, fd: int, obj_id: int = 0) -> ProgramInfo:
        self.fill(fd, obj_id)
        (pid, ptype, name, tag, jited, xlated, load_time, uid, btf_id, run_time, run_count,
         misses, verified, ifindex, netns_dev, netns_ino, gpl, attach_obj, attach_id,
         nr_func, nr_line, nr_ids) = _PROG_FIELDS(_PROG.unpack_from(self.info))  # fmt: skip
        if nr_ids > len(self._ids):  # more maps than the inline buffer: once more, bigger
            self._ids = (ctypes.c_uint32 * nr_ids)()
            return self.read(fd, obj_id)
        values: tuple[object, ...] = (
            pid, ptype, c_string(name), tag.hex(), jited, xlated, load_time,
            load_time + self._boot_to_wall, uid, tuple(self._ids[:nr_ids]) if nr_ids else (),
            btf_id, run_time, run_count, misses, verified, ifindex, netns_dev, netns_ino,
            bool(gpl & 1), attach_obj, attach_id, nr_func, nr_line,
        )  # fmt: skip
        given = self._get_attr.info_len
        if given < _FULL_PROG_INFO:  # an older kernel: what it does not have is unknown
            late = [i for i, end in _LATE_PROG_FIELDS if given < end]
            values = tuple(None if i in late else v for i, v in enumerate(values))
        return _new_tuple(ProgramInfo, values)


class _MapReader(_InfoReader):
    def __init__(self) -> None:
        super().__init__(_sys.MapInfo, Cmd.MAP_GET_FD_BY_ID, "map")

    def read(self, fd: int, obj_id: int = 0) -> MapInfo:
        self.fill(fd, obj_id)
        fields = _MAP_FIELDS(_MAP.unpack_from(self.info))
        return _new_tuple(MapInfo, (*fields[:2], c_string(fields[2]), *fields[3:]))


def program_info(fd: int | Fd, prog_id: int = 0) -> ProgramInfo:
    """Read struct bpf_prog_info for a program fd, including its map ids."""
    return _ProgramReader().read(int(fd), prog_id)


def map_info(fd: int | Fd, map_id: int = 0) -> MapInfo:
    """Read struct bpf_map_info for a map fd."""
    return _MapReader().read(int(fd), map_id)


def link_info(fd: int | Fd, link_id: int = 0) -> LinkInfo:
    """Read struct bpf_link_info for a link fd and decode its per-type details."""
    info = _sys.LinkInfo()
    get_info_by_fd(int(fd), info, f"link {link_id}" if link_id else "link")
    details = decode_link_details(int(fd), info)
    return LinkInfo(id=info.id, type=info.type, prog_id=info.prog_id, details=details)


def map_fdinfo(map_id: int) -> dict[str, str] | None:
    """The fdinfo of a fresh read-only fd for the map (memlock, frozen, ...): facts the
    kernel shows nowhere else. None if the map is gone."""
    try:
        with open_map(map_id, read_only=True) as fd:
            return read_fdinfo("self", fd.fd)
    except BPFError:
        return None


def map_frozen(map_id: int) -> bool | None:
    """Whether user space can no longer write to the map (BPF_MAP_FREEZE). None if gone."""
    fdinfo = map_fdinfo(map_id)
    return None if fdinfo is None else fdinfo.get("frozen", "0") != "0"


def map_memlock(map_id: int) -> int | None:
    """The kernel's estimate of a map's memory in bytes (`memlock:`), None if unknown."""
    value = (map_fdinfo(map_id) or {}).get("memlock", "")
    return int(value) if value.isdigit() else None


def program_memlock(prog_id: int) -> int | None:
    """Bytes the kernel accounts to a program (fdinfo `memlock`: its pages, as `bpftool prog
    show` prints them); None if the program is gone or the kernel does not say."""
    try:
        with open_program(prog_id) as fd:
            value = read_fdinfo("self", fd.fd).get("memlock", "")
    except BPFError:
        return None
    return int(value) if value.isdigit() else None


# ---------------------------------------------------------------- by id, and listings


def get_program(prog_id: int) -> ProgramInfo:
    """Info of program `prog_id`; raises NotFound when there is no such program."""
    return by_id(open_program, program_info, prog_id)


def get_map(map_id: int) -> MapInfo:
    """Info of map `map_id`; raises NotFound when there is no such map."""
    return by_id(open_map, map_info, map_id)


def get_link(link_id: int) -> LinkInfo:
    """Info of link `link_id`; raises NotFound when there is no such link."""
    return by_id(open_link, link_info, link_id)


def list_programs(ids: Iterable[int] | None = None) -> list[ProgramInfo | ObjectError]:
    """Every loaded program (or those of `ids`), or an ObjectError for one that could not
    be read."""
    return _ProgramReader().read_all(iter_program_ids() if ids is None else ids)


def list_maps(ids: Iterable[int] | None = None) -> list[MapInfo | ObjectError]:
    """Every map (or those of `ids`), or an ObjectError for one that could not be read."""
    return _MapReader().read_all(iter_map_ids() if ids is None else ids)


def list_links() -> list[LinkInfo | ObjectError]:
    """Every link, or an ObjectError for one that could not be read."""
    return list_each(iter_link_ids(), get_link, "link")
