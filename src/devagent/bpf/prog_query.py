"""BPF_PROG_QUERY: which programs are attached to a cgroup or an interface (tcx), whether a
bpf link or the old BPF_PROG_ATTACH made the attachment.

A program attached with BPF_PROG_ATTACH (`bpftool cgroup attach`, systemd's device and
firewall programs) has no link: only this query names it (`bpftool cgroup tree` asks it).
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

from . import _sys
from ._sys import Cmd
from .errors import BPFError
from .names import ATTACH_TYPES

u32, u64 = _sys.u32, _sys.u64

# How many program ids one query returns at most; the kernel answers ENOSPC with the real
# count when more are attached, and the query is asked again with room for all.
_FIRST_ROOM = 64


class QueryAttr(ctypes.Structure):
    """The `query` member of union bpf_attr (target_fd doubles as target_ifindex)."""

    _fields_ = (
        ("target", u32),
        ("attach_type", u32),
        ("query_flags", u32),
        ("attach_flags", u32),
        ("prog_ids", u64),
        ("count", u32),
        ("_pad", u32),
        ("prog_attach_flags", u64),
        # Since 6.6 (tcx): the ids of the links among the programs. Older kernels refuse a
        # non-zero field they do not know (EINVAL), so it is sent only where asked.
        ("link_ids", u64),
        ("link_attach_flags", u64),
        ("revision", u64),
    )


class Attached(NamedTuple):
    """One program attached to the queried target; link_id 0 where no link made it or the
    kernel does not say."""

    prog_id: int
    link_id: int


def attach_type_id(name: str) -> int:
    """The enum bpf_attach_type value of a libbpf name (`cgroup_inet_ingress`)."""
    return ATTACH_TYPES.index(name)


def query_programs(target: int, attach_type: int, *, with_links: bool = False) -> list[Attached]:
    """Programs attached to `target` (a cgroup fd, or an ifindex for tcx) for `attach_type`,
    in the kernel's order; the directly attached ones only (no BPF_F_QUERY_EFFECTIVE).
    Raises BPFError as the kernel refuses (EINVAL for an attach type it does not know or
    that does not fit the target)."""
    room = _FIRST_ROOM
    while True:
        ids = (u32 * room)()
        links = (u32 * room)() if with_links else None
        attr = QueryAttr(target=target, attach_type=attach_type, prog_ids=_sys.addr(ids),
                         count=room, link_ids=_sys.addr(links))  # fmt: skip
        try:
            _sys.bpf(Cmd.PROG_QUERY, attr, what=f"attach type {attach_type}")
        except BPFError as e:
            if e.errno == 28 and attr.count > room:  # ENOSPC: more than we made room for
                room = attr.count
                continue
            raise
        n = min(attr.count, room)
        return [Attached(ids[i], links[i] if links is not None else 0) for i in range(n)]
