"""Pinning objects in bpffs, opening pinned objects, and mapping object ids to pin paths."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

from . import _sys
from ._sys import Cmd
from .errors import BPFError, PermissionDenied
from .handles import Fd
from .procfs import bpf_object_of_fd

if TYPE_CHECKING:
    from collections.abc import Callable


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
    return PinScanner(root).scan()


# (kind, id, path) of each pinned object found in one directory, in name order.
_Found = list[tuple[str, int, str]]


class PinScanner:
    """scan_pins for a server's every snapshot: a directory whose modification time did not
    change since it was read keeps what was found in it.

    Finding what a pin refers to costs one or two BPF_OBJ_GET and an fdinfo read per pin:
    a host with a few hundred pinned maps (Cilium's) paid that on every UI poll. But a pin
    refers to one object for as long as it exists, and making, removing or renaming one
    changes its directory's mtime; one stat per directory tells whether anything changed.

    The kernel stamps mtimes from a clock that lags by up to one tick (a few ms), so a
    change made right after a read could leave the mtime as it was. A directory is
    therefore kept only once its mtime is `settle_ns` older than the scan that read it;
    one changed more recently is read again next time. Thread-safe.
    """

    def __init__(
        self, root: str, settle_ns: int = 250_000_000, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.root = root
        self.settle_ns = settle_ns
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[int, _Found, list[str]]] = {}
        self.opened = 0  # pins opened (tests check that kept directories open none)

    def scan(self) -> PinIndex:
        index = PinIndex(self.root)
        with self._lock:
            kept: dict[str, tuple[int, _Found, list[str]]] = {}
            if os.path.isdir(self.root):
                self._walk(self.root, self._clock(), kept, index)
            self._kept = kept
        return index

    def forget(self) -> None:
        """Read every directory again next time."""
        with self._lock:
            self._kept = {}

    def _walk(
        self, path: str, started: int, kept: dict[str, tuple[int, _Found, list[str]]],
        index: PinIndex,
    ) -> None:  # fmt: skip
        """Index one directory, then its subdirectories in name order (os.walk's order:
        symlinked directories are not entered)."""
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return
        known = self._kept.get(path)
        if known is not None and known[0] == mtime:
            found, subdirs = known[1], known[2]
        else:
            found, subdirs = self._read_dir(path)
        if mtime <= started - self.settle_ns:
            kept[path] = (mtime, found, subdirs)
        for kind, obj_id, pin in found:
            index.of(kind).setdefault(obj_id, []).append(pin)
        for sub in subdirs:
            self._walk(sub, started, kept, index)

    def _read_dir(self, path: str) -> tuple[_Found, list[str]]:
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return [], []
        found: _Found = []
        subdirs: list[str] = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    subdirs.append(entry.path)
                continue
            obj = self._object_of(entry.path)
            if obj is not None:
                found.append((obj[0], obj[1], entry.path))
        return found, subdirs

    def _object_of(self, path: str) -> tuple[str, int] | None:
        self.opened += 1
        try:
            fd = open_pinned(path, read_only=True)
        except BPFError:
            try:
                fd = open_pinned(path)
            except BPFError:
                return None
        with fd:
            return bpf_object_of_fd("self", fd.fd)
