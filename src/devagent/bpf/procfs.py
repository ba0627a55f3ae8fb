"""Reading /proc: which processes hold which bpf objects, and what an fd refers to.

The kernel names bpf fds `anon_inode:bpf-prog`, `anon_inode:bpf-map` and `anon_inode:bpf-link`
(`bpf_link` on older kernels) and prints their ids in /proc/PID/fdinfo/FD (`prog_id:`,
`map_id:`, `link_id:`), which is how bpftool finds the "pids" of an object too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

FD_KINDS = {
    "anon_inode:bpf-prog": "program",
    "anon_inode:bpf-map": "map",
    "anon_inode:bpf-link": "link",  # 6.x kernels
    "anon_inode:bpf_link": "link",  # older kernels
}
ID_FIELDS = {"program": "prog_id", "map": "map_id", "link": "link_id"}


class Owner(NamedTuple):
    """A process holding an fd to a bpf object."""

    pid: int
    comm: str
    fd: int


def read_fdinfo(pid: int | str, fd: int | str) -> dict[str, str]:
    """The `key: value` lines of /proc/PID/fdinfo/FD as a dict ({} if it vanished)."""
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as f:
            text = f.read()
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def bpf_object_of_fd(pid: int | str, fd: int | str) -> tuple[str, int] | None:
    """(kind, id) of the bpf object behind an fd of a process, None if it is not one."""
    try:
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    kind = FD_KINDS.get(target)
    if kind is None:
        return None
    value = read_fdinfo(pid, fd).get(ID_FIELDS[kind])
    return (kind, int(value)) if value and value.isdigit() else None


def iter_pids() -> Iterator[int]:
    """Pids of all processes visible in /proc."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def read_comm(pid: int) -> str:
    """The process's command name, '' if it exited. Any process may name itself any bytes
    (prctl PR_SET_NAME): what is not UTF-8 comes back as \\xNN escapes, never an error."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="backslashreplace") as f:
            return f.read().rstrip("\n")
    except OSError:
        return ""


def iter_fds(pid: int) -> Iterator[tuple[int, str]]:
    """(fd, link target) for each open fd of a process; nothing if it exited or is hidden."""
    base = f"/proc/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        try:
            yield int(name), os.readlink(f"{base}/{name}")
        except (OSError, ValueError):
            continue


def scan_owners() -> dict[str, dict[int, list[Owner]]]:
    """For each kind ("program", "map", "link"): object id -> processes holding an fd to it."""
    found: dict[str, dict[int, list[Owner]]] = {kind: {} for kind in ID_FIELDS}
    for pid in iter_pids():
        comm: str | None = None
        for fd, target in iter_fds(pid):
            kind = FD_KINDS.get(target)
            if kind is None:
                continue
            value = read_fdinfo(pid, fd).get(ID_FIELDS[kind])
            if not value or not value.isdigit():
                continue
            if comm is None:
                comm = read_comm(pid)
            found[kind].setdefault(int(value), []).append(Owner(pid, comm, fd))
    return found
