"""Enumerate, open and describe kernel eBPF objects (programs, maps, links, BTF).

Every listing yields either an info dataclass or an ObjectError: an object that vanished
between enumeration and open is data, never an exception out of the listing.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from . import _sys
from ._sys import Cmd
from .errors import BPFError, NotFound
from .names import PER_CPU_MAP_TYPES, link_type_name, map_type_name, prog_type_name


class Fd:
    """An owned file descriptor for a bpf object; closes on exit or garbage collection."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            _sys.close_fd(self.fd)
            self.fd = -1

    def __enter__(self) -> Fd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __int__(self) -> int:
        return self.fd


@dataclass(frozen=True)
class ObjectError:
    """An object listed by id that could not be opened or read (e.g. it was just unloaded)."""

    id: int
    kind: str
    error: str


@dataclass(frozen=True)
class ProgramInfo:
    """What the kernel says about a loaded program (struct bpf_prog_info)."""

    id: int
    type: int
    name: str
    tag: str
    jited_size: int
    xlated_size: int
    load_time_ns: int  # CLOCK_BOOTTIME, as the kernel gives it
    loaded_at: datetime
    uid: int
    map_ids: tuple[int, ...]
    btf_id: int
    run_time_ns: int
    run_count: int
    recursion_misses: int
    verified_insns: int
    ifindex: int
    netns_dev: int
    netns_ino: int
    gpl_compatible: bool
    attach_btf_obj_id: int
    attach_btf_id: int
    nr_func_info: int
    nr_line_info: int

    @property
    def type_name(self) -> str:
        return prog_type_name(self.type)

    @property
    def avg_run_time_ns(self) -> int:
        return self.run_time_ns // self.run_count if self.run_count else 0


@dataclass(frozen=True)
class MapInfo:
    """What the kernel says about a map (struct bpf_map_info)."""

    id: int
    type: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    ifindex: int
    netns_dev: int
    netns_ino: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    btf_vmlinux_id: int
    map_extra: int

    @property
    def type_name(self) -> str:
        return map_type_name(self.type)

    @property
    def is_per_cpu(self) -> bool:
        return self.type in PER_CPU_MAP_TYPES


@dataclass(frozen=True)
class LinkInfo:
    """A link (struct bpf_link_info); `details` holds the per-type attach information."""

    id: int
    type: int
    prog_id: int
    details: dict[str, object] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        return link_type_name(self.type)


@dataclass(frozen=True)
class BtfObjectInfo:
    """A BTF object (struct bpf_btf_info)."""

    id: int
    name: str
    size: int
    kernel_btf: bool


# ---------------------------------------------------------------- enumeration and open


def _iter_ids(cmd: Cmd) -> Iterator[int]:
    attr = _sys.GetNextIdAttr()
    while True:
        try:
            _sys.bpf(cmd, attr)
        except NotFound:
            return
        yield attr.next_id
        attr.start_id = attr.next_id


def iter_program_ids() -> Iterator[int]:
    """Ids of all loaded programs, ascending."""
    return _iter_ids(Cmd.PROG_GET_NEXT_ID)


def iter_map_ids() -> Iterator[int]:
    """Ids of all maps, ascending."""
    return _iter_ids(Cmd.MAP_GET_NEXT_ID)


def iter_link_ids() -> Iterator[int]:
    """Ids of all links, ascending."""
    return _iter_ids(Cmd.LINK_GET_NEXT_ID)


def iter_btf_ids() -> Iterator[int]:
    """Ids of all BTF objects (vmlinux, modules, programs'), ascending."""
    return _iter_ids(Cmd.BTF_GET_NEXT_ID)


def _open(cmd: Cmd, obj_id: int, what: str, flags: int = 0) -> Fd:
    attr = _sys.GetFdByIdAttr(id=obj_id, open_flags=flags)
    return Fd(_sys.bpf(cmd, attr, what=f"{what} {obj_id}"))


def open_program(prog_id: int) -> Fd:
    """An fd for program `prog_id` (raises NotFound if it is gone)."""
    return _open(Cmd.PROG_GET_FD_BY_ID, prog_id, "program")


def open_map(map_id: int, *, read_only: bool = False) -> Fd:
    """An fd for map `map_id`; read-only fds cannot update or delete."""
    return _open(Cmd.MAP_GET_FD_BY_ID, map_id, "map", _sys.BPF_F_RDONLY if read_only else 0)


def open_link(link_id: int) -> Fd:
    """An fd for link `link_id`."""
    return _open(Cmd.LINK_GET_FD_BY_ID, link_id, "link")


def open_btf(btf_id: int) -> Fd:
    """An fd for BTF object `btf_id`."""
    return _open(Cmd.BTF_GET_FD_BY_ID, btf_id, "btf")


def get_info_by_fd(fd: int, info: ctypes.Structure, what: str = "") -> None:
    """Fill `info` (a *_info struct, zeroed or with output buffers set) for the object at fd."""
    attr = _sys.InfoByFdAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=_sys.addr(info))
    _sys.bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, what=what)


# ---------------------------------------------------------------- info readers


def _boot_to_wall_offset_ns() -> int:
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def program_info(fd: int | Fd, prog_id: int = 0) -> ProgramInfo:
    """Read struct bpf_prog_info for a program fd, including its map ids."""
    fd = int(fd)
    what = f"program {prog_id}" if prog_id else "program"
    ids = (ctypes.c_uint32 * 64)()
    info = _sys.ProgInfo(nr_map_ids=64, map_ids=_sys.addr(ids))
    get_info_by_fd(fd, info, what)
    if info.nr_map_ids > len(ids):
        ids = (ctypes.c_uint32 * info.nr_map_ids)()
        info = _sys.ProgInfo(nr_map_ids=len(ids), map_ids=_sys.addr(ids))
        get_info_by_fd(fd, info, what)
    loaded_ns = info.load_time + _boot_to_wall_offset_ns()
    return ProgramInfo(
        id=info.id,
        type=info.type,
        name=_cstr(bytes(info.name)),
        tag=bytes(info.tag).hex(),
        jited_size=info.jited_prog_len,
        xlated_size=info.xlated_prog_len,
        load_time_ns=info.load_time,
        loaded_at=datetime.fromtimestamp(loaded_ns / 1e9, tz=timezone.utc),
        uid=info.created_by_uid,
        map_ids=tuple(ids[: info.nr_map_ids]),
        btf_id=info.btf_id,
        run_time_ns=info.run_time_ns,
        run_count=info.run_cnt,
        recursion_misses=info.recursion_misses,
        verified_insns=info.verified_insns,
        ifindex=info.ifindex,
        netns_dev=info.netns_dev,
        netns_ino=info.netns_ino,
        gpl_compatible=bool(info.gpl_compatible & 1),
        attach_btf_obj_id=info.attach_btf_obj_id,
        attach_btf_id=info.attach_btf_id,
        nr_func_info=info.nr_func_info,
        nr_line_info=info.nr_line_info,
    )


def map_info(fd: int | Fd, map_id: int = 0) -> MapInfo:
    """Read struct bpf_map_info for a map fd."""
    info = _sys.MapInfo()
    get_info_by_fd(int(fd), info, f"map {map_id}" if map_id else "map")
    return MapInfo(
        id=info.id,
        type=info.type,
        name=_cstr(bytes(info.name)),
        key_size=info.key_size,
        value_size=info.value_size,
        max_entries=info.max_entries,
        flags=info.map_flags,
        ifindex=info.ifindex,
        netns_dev=info.netns_dev,
        netns_ino=info.netns_ino,
        btf_id=info.btf_id,
        btf_key_type_id=info.btf_key_type_id,
        btf_value_type_id=info.btf_value_type_id,
        btf_vmlinux_value_type_id=info.btf_vmlinux_value_type_id,
        btf_vmlinux_id=info.btf_vmlinux_id,
        map_extra=info.map_extra,
    )


def link_info(fd: int | Fd, link_id: int = 0) -> LinkInfo:
    """Read struct bpf_link_info for a link fd and decode its per-type details."""
    from .links import decode_link_details  # links.py imports this module

    info = _sys.LinkInfo()
    get_info_by_fd(int(fd), info, f"link {link_id}" if link_id else "link")
    details = decode_link_details(int(fd), info)
    return LinkInfo(id=info.id, type=info.type, prog_id=info.prog_id, details=details)


def btf_info(fd: int | Fd, btf_id: int = 0) -> BtfObjectInfo:
    """Read struct bpf_btf_info (name and size) for a BTF fd."""
    name = ctypes.create_string_buffer(256)
    info = _sys.BtfInfo(name=_sys.addr(name), name_len=len(name))
    get_info_by_fd(int(fd), info, f"btf {btf_id}" if btf_id else "btf")
    return BtfObjectInfo(
        id=info.id, name=_cstr(name.raw), size=info.btf_size, kernel_btf=bool(info.kernel_btf)
    )


def read_btf_data(btf_id: int) -> bytes:
    """The raw BTF blob (header, types, strings) of BTF object `btf_id`."""
    with open_btf(btf_id) as fd:
        info = _sys.BtfInfo()
        get_info_by_fd(fd.fd, info, f"btf {btf_id}")
        buf = ctypes.create_string_buffer(info.btf_size)
        info2 = _sys.BtfInfo(btf=_sys.addr(buf), btf_size=info.btf_size)
        get_info_by_fd(fd.fd, info2, f"btf {btf_id}")
        return buf.raw[: info2.btf_size]


def map_frozen(map_id: int) -> bool | None:
    """Whether user space can no longer write to the map (BPF_MAP_FREEZE); the kernel shows
    it only in the fd's fdinfo. None if the map is gone."""
    from .procfs import read_fdinfo

    try:
        with open_map(map_id, read_only=True) as fd:
            return read_fdinfo("self", fd.fd).get("frozen", "0") != "0"
    except BPFError:
        return None


# ---------------------------------------------------------------- by id, and listings

T = TypeVar("T")


def _by_id(opener: Callable[[int], Fd], reader: Callable[[Fd, int], T], obj_id: int) -> T:
    with opener(obj_id) as fd:
        return reader(fd, obj_id)


def get_program(prog_id: int) -> ProgramInfo:
    """Info of program `prog_id`; raises NotFound when there is no such program."""
    return _by_id(open_program, program_info, prog_id)


def get_map(map_id: int) -> MapInfo:
    """Info of map `map_id`; raises NotFound when there is no such map."""
    return _by_id(open_map, map_info, map_id)


def get_link(link_id: int) -> LinkInfo:
    """Info of link `link_id`; raises NotFound when there is no such link."""
    return _by_id(open_link, link_info, link_id)


def _list(ids: Iterator[int], getter: Callable[[int], T], kind: str) -> list[T | ObjectError]:
    out: list[T | ObjectError] = []
    for obj_id in ids:
        try:
            out.append(getter(obj_id))
        except BPFError as exc:
            out.append(ObjectError(obj_id, kind, str(exc)))
    return out


def list_programs() -> list[ProgramInfo | ObjectError]:
    """Every loaded program, or an ObjectError for one that could not be read."""
    return _list(iter_program_ids(), get_program, "program")


def list_maps() -> list[MapInfo | ObjectError]:
    """Every map, or an ObjectError for one that could not be read."""
    return _list(iter_map_ids(), get_map, "map")


def list_links() -> list[LinkInfo | ObjectError]:
    """Every link, or an ObjectError for one that could not be read."""
    return _list(iter_link_ids(), get_link, "link")


def list_btf() -> list[BtfObjectInfo | ObjectError]:
    """Every BTF object, or an ObjectError for one that could not be read."""
    return _list(iter_btf_ids(), lambda i: _by_id(open_btf, btf_info, i), "btf")
