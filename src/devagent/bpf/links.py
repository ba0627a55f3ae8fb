"""Decoding of the per-type union of struct bpf_link_info.

Keys follow bpftool's JSON (`bpftool -j link show`) so the two can be compared directly.
"""

from __future__ import annotations

import ctypes
import struct

from . import _sys
from ._sys import Cmd
from .errors import BPFError
from .handles import Fd, get_info_by_fd
from .info import LinkInfo
from .names import NETFILTER_HOOKS, NETFILTER_PF, attach_type_name

RAW_TRACEPOINT, TRACING, CGROUP, ITER, NETNS, XDP, PERF_EVENT = 1, 2, 3, 4, 5, 6, 7
KPROBE_MULTI, STRUCT_OPS, NETFILTER, TCX, UPROBE_MULTI, NETKIT, SOCKMAP = (
    8, 9, 10, 11, 12, 13, 14,
)  # fmt: skip


def _u32(raw: bytes, off: int) -> int:
    return int(struct.unpack_from("<I" if _LE else ">I", raw, off)[0])


def _s32(raw: bytes, off: int) -> int:
    return int(struct.unpack_from("<i" if _LE else ">i", raw, off)[0])


def _u64(raw: bytes, off: int) -> int:
    return int(struct.unpack_from("<Q" if _LE else ">Q", raw, off)[0])


_LE = struct.pack("=I", 1)[0] == 1


def ifname(ifindex: int) -> str | None:
    """Interface name for an ifindex in our network namespace, None if unknown."""
    import socket  # here: importing it costs every `phydev inspect` ~5 ms, few links need it

    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return None


def _string_field(fd: int, ptr_off: int, len_off: int, length: int) -> str:
    """Second OBJ_GET_INFO_BY_FD pass that gives the kernel a buffer for a name field."""
    if length <= 0:
        return ""
    buf = ctypes.create_string_buffer(length + 1)
    info = _sys.LinkInfo()
    raw = bytearray(_sys.LINK_INFO_UNION_SIZE)
    struct.pack_into("=Q", raw, ptr_off, _sys.addr(buf))
    struct.pack_into("=I", raw, len_off, len(buf))
    info.union[:] = raw
    get_info_by_fd(fd, info, "link")
    return buf.value.decode("utf-8", "replace")


def decode_link_details(fd: int, info: _sys.LinkInfo) -> dict[str, object]:
    """Per-type attach details of a link, as a flat dict (bpftool's key names)."""
    raw = bytes(info.union)
    t = info.type
    d: dict[str, object] = {}
    if t == RAW_TRACEPOINT:
        d["tp_name"] = _string_field(fd, 0, 8, _u32(raw, 8))
    elif t == TRACING:
        d["attach_type"] = attach_type_name(_u32(raw, 0))
        d["target_obj_id"] = _u32(raw, 4)
        d["target_btf_id"] = _u32(raw, 8)
    elif t == CGROUP:
        d["cgroup_id"] = _u64(raw, 0)
        d["attach_type"] = attach_type_name(_u32(raw, 8))
    elif t == ITER:
        d["target_name"] = _string_field(fd, 0, 8, _u32(raw, 8))
        map_id = _u32(raw, 12)
        if map_id:
            d["map_id"] = map_id
    elif t == NETNS:
        d["netns_ino"] = _u32(raw, 0)
        d["attach_type"] = attach_type_name(_u32(raw, 4))
    elif t == XDP:
        d["ifindex"] = _u32(raw, 0)
        d["devname"] = ifname(_u32(raw, 0))
    elif t == STRUCT_OPS:
        d["map_id"] = _u32(raw, 0)
    elif t == NETFILTER:
        pf, hook = _u32(raw, 0), _u32(raw, 4)
        d["pf"] = NETFILTER_PF.get(pf, str(pf))
        d["hook"] = NETFILTER_HOOKS[hook] if hook < len(NETFILTER_HOOKS) else str(hook)
        d["prio"] = _s32(raw, 8)
        d["flags"] = _u32(raw, 12)
    elif t in (TCX, NETKIT):
        d["ifindex"] = _u32(raw, 0)
        d["devname"] = ifname(_u32(raw, 0))
        d["attach_type"] = attach_type_name(_u32(raw, 4))
    elif t == SOCKMAP:
        d["map_id"] = _u32(raw, 0)
        d["attach_type"] = attach_type_name(_u32(raw, 4))
    elif t == KPROBE_MULTI:
        d["func_cnt"] = _u32(raw, 8)
        d["flags"] = _u32(raw, 12)
        d["missed"] = _u64(raw, 16)
    elif t == UPROBE_MULTI:
        d["count"] = _u32(raw, 36)
        d["flags"] = _u32(raw, 40)
        d["pid"] = _u32(raw, 44)
    elif t == PERF_EVENT:
        d["perf_event_type"] = _u32(raw, 0)
    return d


def create_link(prog_fd: int, target: int, attach_type: int, flags: int = 0) -> Fd:
    """BPF_LINK_CREATE: attach a program through a link. `target` is an fd (cgroup, netns) or
    an ifindex (XDP, tcx), depending on the attach type. Closing the last fd (and pin) of the
    link detaches it."""
    attr = _sys.LinkCreateAttr(prog_fd=prog_fd, target=target, attach_type=attach_type, flags=flags)
    return Fd(_sys.bpf(Cmd.LINK_CREATE, attr, what=f"link for program fd {prog_fd}"))


def tracing_target_name(link: LinkInfo) -> str | None:
    """The function a tracing link (fentry/fexit/...) attaches to, from the target's BTF."""
    obj_id = link.details.get("target_obj_id")
    btf_id = link.details.get("target_btf_id")
    if not isinstance(obj_id, int) or not isinstance(btf_id, int) or not btf_id:
        return None
    # Imported here: the BTF type records cost ~20 ms to define, which every `phydev inspect
    # ... list` would pay for a name it never asks for.
    from .btf import load_btf
    from .btf.types import BTFError

    try:
        return load_btf(obj_id).name_of(btf_id) or None
    except (BTFError, BPFError):
        return None
