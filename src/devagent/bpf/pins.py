"""Pinning objects in bpffs, opening pinned objects, and mapping object ids to pin paths."""

from __future__ import annotations

import ctypes
import os
import sys

from . import _sys
from ._sys import Cmd
from .errors import BPFError, PermissionDenied
from .handles import Fd
from .procfs import bpf_object_of_fd


def _path_attr(
    path: str, fd: int = 0, flags: int = 0
) -> tuple[_sys.ObjPinAttr, ctypes.Array[ctypes.c_char]]:
    """The attr for OBJ_PIN/OBJ_GET, and the path buffer it points to (keep it alive)."""
    buf = ctypes.create_string_buffer(os.fsencode(path))
    return _sys.ObjPinAttr(pathname=_sys.addr(buf), bpf_fd=fd, file_flags=flags), buf


def pin_object(fd: int | Fd, path: str) -> None:
    """Pin the object behind fd at `path` (BPF_OBJ_PIN); EEXIST if the path is taken."""
    attr, _keep = _path_attr(path, int(fd))
    try:
        _sys.bpf(Cmd.OBJ_PIN, attr, what=f"pin {path}")
    except PermissionDenied as exc:
        # bpffs answers EPERM for any name with a '.' in it (bpf_lookup): not a privilege
        # problem, whatever "Operation not permitted" suggests.
        dotted = [part for part in path.split("/") if "." in part and part not in (".", "..")]
        if not dotted:
            raise
        raise BPFError(
            exc.errno or 0, exc.op, exc.what, f"bpffs does not allow '.' in names ({dotted[-1]!r})"
        ) from None


def open_pinned(path: str, *, read_only: bool = False) -> Fd:
    """An fd for the object pinned at `path` (BPF_OBJ_GET)."""
    attr, _keep = _path_attr(path, flags=_sys.BPF_F_RDONLY if read_only else 0)
    return Fd(_sys.bpf(Cmd.OBJ_GET, attr, what=f"pinned object {path}"))


class PinIndex:
    """Pin paths found under a bpffs directory, by object kind and id. (A plain class: the
    listings import this module on every start, and dataclasses would import inspect.)"""

    __slots__ = ("links", "maps", "programs", "root")

    def __init__(
        self,
        root: str,
        programs: dict[int, list[str]] | None = None,
        maps: dict[int, list[str]] | None = None,
        links: dict[int, list[str]] | None = None,
    ) -> None:
        self.root = root
        self.programs: dict[int, list[str]] = programs or {}
        self.maps: dict[int, list[str]] = maps or {}
        self.links: dict[int, list[str]] = links or {}

    def of(self, kind: str) -> dict[int, list[str]]:
        return {"program": self.programs, "map": self.maps, "link": self.links}[kind]


BPF_FS_MAGIC = 0xCAFE4A11  # include/uapi/linux/magic.h


def _fs_type(path: str) -> int | None:
    """statfs(2)'s f_type for `path` (the first field of struct statfs on every Linux ABI,
    one machine word wide), or None when the call fails."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit ABIs
    if _sys.libc.statfs(os.fsencode(path), buf) != 0:
        return None
    word = ctypes.sizeof(ctypes.c_long)
    return int.from_bytes(buf.raw[:word], sys.byteorder) & 0xFFFFFFFF


def bpffs_problem(path: str) -> str | None:
    """Why pins cannot be found (nor made) under `path`, or None when it is a directory on a
    bpffs. Pins are searched by walking the directory, so a plain directory, or the mount
    point of an unmounted bpffs, silently shows nothing pinned."""
    if not os.path.exists(path):
        return f"{path} does not exist"
    if not os.path.isdir(path):
        return f"{path} is not a directory"
    if _fs_type(path) != BPF_FS_MAGIC:
        return f"{path} is not on a bpf filesystem (mount one with: mount -t bpf bpf {path})"
    return None


def scan_pins(root: str) -> PinIndex:
    """Walk a bpffs directory and index every pinned program, map and link by id.

    A missing or unreadable directory gives an empty index: pins are optional.
    """
    index = PinIndex(root)
    if not os.path.isdir(root):
        return index
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                fd = open_pinned(path, read_only=True)
            except BPFError:
                try:
                    fd = open_pinned(path)
                except BPFError:
                    continue
            with fd:
                obj = bpf_object_of_fd("self", fd.fd)
            if obj is not None:
                index.of(obj[0]).setdefault(obj[1], []).append(path)
    return index
