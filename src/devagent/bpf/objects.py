"""Describe kernel eBPF objects (programs, maps, links) by id, and list them all.

Every listing yields either an info dataclass or an ObjectError: an object that vanished
between enumeration and open is data, never an exception out of the listing.
"""

from __future__ import annotations

import ctypes
import time
from datetime import datetime, timezone

from . import _sys
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

# ---------------------------------------------------------------- info readers


def _boot_to_wall_offset_ns() -> int:
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


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
        name=c_string(bytes(info.name)),
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
        name=c_string(bytes(info.name)),
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


def list_programs() -> list[ProgramInfo | ObjectError]:
    """Every loaded program, or an ObjectError for one that could not be read."""
    return list_each(iter_program_ids(), get_program, "program")


def list_maps() -> list[MapInfo | ObjectError]:
    """Every map, or an ObjectError for one that could not be read."""
    return list_each(iter_map_ids(), get_map, "map")


def list_links() -> list[LinkInfo | ObjectError]:
    """Every link, or an ObjectError for one that could not be read."""
    return list_each(iter_link_ids(), get_link, "link")
