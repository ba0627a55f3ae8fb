"""The rows about map and program types: one map of each type created and closed again (as
bpftool does), or, for the types that need BTF to be created, the kernel's enum asked."""

from __future__ import annotations

import errno
import os

from ..errors import BPFError
from ..map_types import listing_refusal
from ..maps import create_map
from ..names import MAP_TYPES, PROG_TYPES
from .probe import _ARRAY, DEGRADED, PROBE_NAME, UNAVAILABLE, WORKS, Probe, Row

# (key size, value size, max entries, flags) to create a map of each type with no BTF;
# None: it needs BTF or other objects to be created, so only the kernel's BTF is asked.
MAP_SPECS: dict[str, tuple[int, int, int, int] | None] = {
    "Hash": (4, 8, 4, 0), "Array": (4, 8, 4, 0), "ProgramArray": (4, 4, 4, 0),
    "PerfEventArray": (4, 4, 4, 0), "PerCPUHash": (4, 8, 4, 0), "PerCPUArray": (4, 8, 4, 0),
    "StackTrace": (4, 8 * 127, 4, 0), "CGroupArray": (4, 4, 4, 0), "LRUHash": (4, 8, 4, 0),
    "LRUCPUHash": (4, 8, 4, 0), "LPMTrie": (8, 8, 4, 1), "ArrayOfMaps": (4, 4, 4, 0),
    "HashOfMaps": (4, 4, 4, 0), "DevMap": (4, 4, 4, 0), "SockMap": (4, 8, 4, 0),
    "CPUMap": (4, 4, 4, 0), "XSKMap": (4, 4, 4, 0), "SockHash": (4, 8, 4, 0),
    "CGroupStorage": (16, 8, 0, 0), "ReusePortSockArray": (4, 8, 4, 0),
    "PerCPUCGroupStorage": (16, 8, 0, 0), "Queue": (0, 8, 4, 0), "Stack": (0, 8, 4, 0),
    "SkStorage": None, "DevMapHash": (4, 4, 4, 0), "StructOpsMap": None,
    "RingBuf": (0, 0, 4096, 0), "InodeStorage": None, "TaskStorage": None,
    "BloomFilter": (0, 8, 4, 0), "UserRingbuf": (0, 0, 4096, 0), "CgroupStorage": None,
    "Arena": (0, 0, 1, 1 << 10),
}  # fmt: skip
MAP_SINCE = {
    "Hash": "3.19", "Array": "3.19", "ProgramArray": "4.2", "PerfEventArray": "4.3",
    "PerCPUHash": "4.6", "PerCPUArray": "4.6", "StackTrace": "4.6", "CGroupArray": "4.8",
    "LRUHash": "4.10", "LRUCPUHash": "4.10", "LPMTrie": "4.11", "ArrayOfMaps": "4.12",
    "HashOfMaps": "4.12", "DevMap": "4.14", "SockMap": "4.14", "CPUMap": "4.15",
    "XSKMap": "4.18", "SockHash": "4.18", "CGroupStorage": "4.19", "ReusePortSockArray": "4.19",
    "PerCPUCGroupStorage": "4.20", "Queue": "4.20", "Stack": "4.20", "SkStorage": "5.2",
    "DevMapHash": "5.4", "StructOpsMap": "5.6", "RingBuf": "5.8", "InodeStorage": "5.10",
    "TaskStorage": "5.11", "BloomFilter": "5.16", "UserRingbuf": "6.1", "CgroupStorage": "6.2",
    "Arena": "6.9",
}  # fmt: skip
# The kernel's enum bpf_map_type spelling of the types created above from BTF only.
_MAP_ENUM = {
    "SkStorage": "BPF_MAP_TYPE_SK_STORAGE", "StructOpsMap": "BPF_MAP_TYPE_STRUCT_OPS",
    "InodeStorage": "BPF_MAP_TYPE_INODE_STORAGE", "TaskStorage": "BPF_MAP_TYPE_TASK_STORAGE",
    "CgroupStorage": "BPF_MAP_TYPE_CGRP_STORAGE",
}  # fmt: skip


def probe_map_type(probe: Probe, name: str) -> Row:
    """Create one map of the type (as bpftool does) and close it; for the types that need
    BTF to be created, look for the type in the kernel's enum bpf_map_type instead."""
    type_id = MAP_TYPES.index(name)
    reading = "its entries can be read" if _listable(type_id) else "listed, entries not readable"
    spec = MAP_SPECS[name]
    if spec is None:
        known = probe.enum_names("bpf_map_type")
        if known is None:
            return WORKS, f"not created (needs BTF to create); {reading}"
        if _MAP_ENUM[name] in known:
            return WORKS, f"known to the kernel; {reading}"
        return UNAVAILABLE, f"this kernel has no {name} maps (from {MAP_SINCE[name]})"
    key_size, value_size, max_entries, flags = spec
    inner = create_map(_ARRAY, 4, 4, 1, name=PROBE_NAME) if "OfMaps" in name else None
    try:
        create_map(type_id, key_size, value_size, max_entries, name=PROBE_NAME, flags=flags,
                   inner_map_fd=inner.fd if inner else 0).close()  # fmt: skip
    except BPFError as exc:
        if exc.errno == errno.EINVAL:
            return UNAVAILABLE, f"this kernel has no {name} maps (from {MAP_SINCE[name]})"
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        why = "this process is privileged: a security policy or this kernel's build"
        if exc.errno not in (errno.EPERM, errno.EACCES):
            why = os.strerror(exc.errno or 0)
        return UNAVAILABLE, f"the kernel refuses to create {name} maps ({code}: {why})"
    finally:
        if inner is not None:
            inner.close()
    return WORKS, f"created; {reading}"


def _listable(type_id: int) -> bool:
    from ..info import MapInfo

    probe_info = MapInfo(0, type_id, "", 4, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return listing_refusal(probe_info) is None


def probe_program_types(probe: Probe) -> Row:
    known = probe.enum_names("bpf_prog_type")
    if known is None:
        return DEGRADED, f"{probe.btf_problem}: which program types exist is unknown"
    count = sum(1 for name in known if name.startswith("BPF_PROG_TYPE_")) - 1  # UNSPEC
    agent = len(PROG_TYPES) - 1
    if count > agent:
        return WORKS, f"{count} program types; {count - agent} newer ones show as ProgramType(N)"
    return WORKS, f"{count} of the {agent} program types the agent names"
