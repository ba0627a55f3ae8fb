"""File descriptors of kernel eBPF objects: enumerate ids, open by id, read info structs.

The lowest layer above the raw syscall: every other module of the package opens objects
through here, so this module imports nothing of them (no import cycles).
"""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING

from . import _sys
from ._sys import Cmd
from .errors import BPFError, not_found
from .info import ObjectError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import TypeVar

    T = TypeVar("T")


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


def _iter_ids(cmd: Cmd) -> Iterator[int]:
    """Ids from *_GET_NEXT_ID until ENOENT (the end). A walk makes one call per object, so
    the call is made raw, with the attribute's address taken once."""
    attr = _sys.GetNextIdAttr()
    attr_addr, attr_size = ctypes.addressof(attr), ctypes.sizeof(attr)
    syscall, nr, code = _sys.raw_syscall, _sys.NR_BPF, int(cmd)
    while True:
        if syscall(nr, code, attr_addr, attr_size) < 0:
            if ctypes.get_errno() == errno.ENOENT:
                return
            raise _sys.last_error(cmd)
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


U32_MAX = 0xFFFFFFFF


def _open(cmd: Cmd, obj_id: int, what: str, flags: int = 0) -> Fd:
    if not 0 <= obj_id <= U32_MAX:
        # The id field is a u32: ctypes would silently cut the number and open another object.
        raise not_found(what, obj_id)
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


def get_info_by_fd(fd: int, info: ctypes.Structure, what: str = "", size: int = 0) -> None:
    """Fill `info` (a *_info struct, zeroed or with output buffers set) for the object at fd;
    `size`: pass only that many bytes of it (an older kernel's struct)."""
    length = size or ctypes.sizeof(info)
    attr = _sys.InfoByFdAttr(bpf_fd=fd, info_len=length, info=_sys.addr(info))
    _sys.bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, what=what)


def c_string(raw: bytes) -> str:
    """A NUL-terminated name field of an info struct, as text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def by_id(opener: Callable[[int], Fd], reader: Callable[[Fd, int], T], obj_id: int) -> T:
    """Open object `obj_id` and read it with `reader` (the fd is closed afterwards)."""
    with opener(obj_id) as fd:
        return reader(fd, obj_id)


def list_each(ids: Iterator[int], getter: Callable[[int], T], kind: str) -> list[T | ObjectError]:
    """`getter(id)` for every id; an object that cannot be read becomes an ObjectError."""
    out: list[T | ObjectError] = []
    for obj_id in ids:
        try:
            out.append(getter(obj_id))
        except BPFError as exc:
            out.append(ObjectError(obj_id, kind, str(exc)))
    return out
