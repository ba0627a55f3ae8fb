"""Programs attached to cgroups, found as `bpftool cgroup tree` finds them: a walk of the
cgroup v2 hierarchy with BPF_PROG_QUERY on each cgroup, per attach type.

Kept cheap: only the attach types that the loaded programs' types can use are asked (a host
without cgroup programs walks nothing), an attach type the kernel refuses (EINVAL: older
than the type) is not asked again, and only direct attachments (no BPF_F_QUERY_EFFECTIVE).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from .cgroups import cgroup2_mount
from .errors import BPFError
from .prog_query import attach_type_id, query_programs

# Attach types each cgroup program type may use (enum bpf_prog_type -> libbpf names).
_SOCK_ADDR = (
    "cgroup_inet4_bind", "cgroup_inet6_bind", "cgroup_inet4_connect", "cgroup_inet6_connect",
    "cgroup_udp4_sendmsg", "cgroup_udp6_sendmsg", "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg",
    "cgroup_inet4_getpeername", "cgroup_inet6_getpeername", "cgroup_inet4_getsockname",
    "cgroup_inet6_getsockname", "cgroup_unix_connect", "cgroup_unix_sendmsg",
    "cgroup_unix_recvmsg", "cgroup_unix_getpeername", "cgroup_unix_getsockname",
)  # fmt: skip
CGROUP_ATTACH_TYPES: dict[int, tuple[str, ...]] = {
    8: ("cgroup_inet_ingress", "cgroup_inet_egress"),  # CGroupSKB
    9: (  # CGroupSock
        "cgroup_inet_sock_create",
        "cgroup_inet4_post_bind",
        "cgroup_inet6_post_bind",
        "cgroup_inet_sock_release",
    ),
    13: ("cgroup_sock_ops",),  # SockOps
    15: ("cgroup_device",),  # CGroupDevice
    18: _SOCK_ADDR,  # CGroupSockAddr
    23: ("cgroup_sysctl",),  # CGroupSysctl
    25: ("cgroup_getsockopt", "cgroup_setsockopt"),  # CGroupSockopt
    29: ("lsm_cgroup",),  # LSM (only its lsm_cgroup programs attach to cgroups)
}


@dataclass(frozen=True)
class CgroupProgram:
    """A program attached to a cgroup for one attach type; link_id 0 without a link."""

    prog_id: int
    cgroup_id: int  # the inode number of the cgroup's directory (what cgroup links report)
    path: str
    attach_type: str


def attach_types_for(prog_types: Iterable[int]) -> list[str]:
    """The cgroup attach types the given program types may use, in one stable order."""
    wanted = {t for p in set(prog_types) for t in CGROUP_ATTACH_TYPES.get(p, ())}
    return sorted(wanted, key=attach_type_id)


def _iter_cgroups(root: str) -> Iterable[tuple[str, int, int]]:
    """(path, inode, O_RDONLY fd) of every cgroup under root, root first; the caller closes
    each fd before asking for the next."""
    todo = [root]
    while todo:
        path = todo.pop()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue  # removed meanwhile
        try:
            ino = os.fstat(fd).st_ino
            with os.scandir(fd) as entries:
                subdirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
            todo.extend(os.path.join(path, d) for d in sorted(subdirs, reverse=True))
            yield path, ino, fd
        finally:
            os.close(fd)


def scan_cgroup_programs(attach_types: list[str], root: str | None = None) -> list[CgroupProgram]:
    """Every program attached directly to a cgroup of the v2 hierarchy under `root` (the
    cgroup2 mount by default) for one of `attach_types`; empty without cgroup v2."""
    root = root or cgroup2_mount()
    if not root or not attach_types:
        return []
    types = [(name, attach_type_id(name)) for name in attach_types]
    out: list[CgroupProgram] = []
    for path, ino, fd in _iter_cgroups(root):
        for name, type_id in list(types):
            try:
                found = query_programs(fd, type_id)
            except BPFError as e:
                if e.errno == 22:  # EINVAL: a type this kernel does not know; ask no more
                    types.remove((name, type_id))
                continue
            out += [CgroupProgram(a.prog_id, ino, path, name) for a in found]
    return out
