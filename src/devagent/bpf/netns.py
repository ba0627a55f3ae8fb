"""Network namespaces other than the agent's, and running a function inside one.

Interfaces, their XDP programs and tc filters belong to a network namespace: those of a
container or a pod are not in the agent's answers unless it asks from inside theirs.
setns(CLONE_NEWNET) changes the namespace of the calling thread only, so each is read from a
short-lived thread of its own and the agent's threads stay where they are.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
RUN_NETNS = "/run/netns"  # where `ip netns add NAME` keeps its namespaces


@dataclass(frozen=True)
class NetNs:
    """A network namespace: its inode (the kernel's id for it), a name to show, a path that
    opens it."""

    inode: int
    name: str  # the `ip netns` name, else `pid N` of a process in it
    path: str


def own_netns_inode() -> int | None:
    try:
        return os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return None


def other_netns(proc: str = "/proc", run_dir: str = RUN_NETNS) -> list[NetNs]:
    """Every network namespace but ours: the named ones (`ip netns`), then those of running
    processes (containers, pods), one each, by inode."""
    own = own_netns_inode()
    found: dict[int, NetNs] = {}
    try:
        named = sorted(os.listdir(run_dir))
    except OSError:
        named = []
    for name in named:
        path = os.path.join(run_dir, name)
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue
        if inode != own and inode not in found:
            found[inode] = NetNs(inode, name, path)
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        pids = []
    for pid in sorted(pids, key=int):
        path = f"{proc}/{pid}/ns/net"
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue  # gone, or a kernel thread's
        if inode != own and inode not in found:
            found[inode] = NetNs(inode, f"pid {pid}", path)
    return list(found.values())


def run_in_netns(netns: NetNs, fn: Callable[[], T]) -> T:
    """`fn()` called from a thread that joined `netns` (the caller's thread stays in its own);
    its exception, or an OSError when the namespace cannot be entered, raised here."""
    libc = ctypes.CDLL(None, use_errno=True)
    result: list[T] = []
    error: list[BaseException] = []

    def inside() -> None:
        try:
            fd = os.open(netns.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {netns.name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as e:  # handed to the caller, raised there
            error.append(e)

    thread = threading.Thread(target=inside, name=f"netns {netns.name}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
