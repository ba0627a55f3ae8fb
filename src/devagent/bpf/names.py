"""Display names of kernel enums, as the Go dev-agent (cilium/ebpf) printed them.

CONTRACT.md section 2 fixes these strings: dashboards and scripts match on them.
"""

from __future__ import annotations

MAP_TYPES: tuple[str, ...] = (
    "UnspecifiedMap", "Hash", "Array", "ProgramArray", "PerfEventArray", "PerCPUHash",
    "PerCPUArray", "StackTrace", "CGroupArray", "LRUHash", "LRUCPUHash", "LPMTrie",
    "ArrayOfMaps", "HashOfMaps", "DevMap", "SockMap", "CPUMap", "XSKMap", "SockHash",
    "CGroupStorage", "ReusePortSockArray", "PerCPUCGroupStorage", "Queue", "Stack",
    "SkStorage", "DevMapHash", "StructOpsMap", "RingBuf", "InodeStorage", "TaskStorage",
    "BloomFilter", "UserRingbuf", "CgroupStorage", "Arena",
)  # fmt: skip

PROG_TYPES: tuple[str, ...] = (
    "UnspecifiedProgram", "SocketFilter", "Kprobe", "SchedCLS", "SchedACT", "TracePoint", "XDP",
    "PerfEvent", "CGroupSKB", "CGroupSock", "LWTIn", "LWTOut", "LWTXmit", "SockOps", "SkSKB",
    "CGroupDevice", "SkMsg", "RawTracepoint", "CGroupSockAddr", "LWTSeg6Local", "LircMode2",
    "SkReuseport", "FlowDissector", "CGroupSysctl", "RawTracepointWritable", "CGroupSockopt",
    "Tracing", "StructOps", "Extension", "LSM", "SkLookup", "Syscall", "Netfilter",
)  # fmt: skip

LINK_TYPES: tuple[str, ...] = (
    "Unspecified", "RawTracepoint", "Tracing", "Cgroup", "Iter", "NetNs", "XDP", "PerfEvent",
    "KprobeMulti", "StructOps", "Netfilter", "TCX", "UprobeMulti", "Netkit", "Sockmap",
)  # fmt: skip

# fd_type of BPF_TASK_FD_QUERY (enum bpf_task_fd_type).
TASK_FD_TYPES: tuple[str, ...] = (
    "RawTracepoint", "Tracepoint", "Kprobe", "Kretprobe", "Uprobe", "Uretprobe",
)  # fmt: skip

# enum bpf_attach_type, spelled as libbpf/bpftool do (used for link attach details).
ATTACH_TYPES: tuple[str, ...] = (
    "cgroup_inet_ingress", "cgroup_inet_egress", "cgroup_inet_sock_create", "cgroup_sock_ops",
    "sk_skb_stream_parser", "sk_skb_stream_verdict", "cgroup_device", "sk_msg_verdict",
    "cgroup_inet4_bind", "cgroup_inet6_bind", "cgroup_inet4_connect", "cgroup_inet6_connect",
    "cgroup_inet4_post_bind", "cgroup_inet6_post_bind", "cgroup_udp4_sendmsg",
    "cgroup_udp6_sendmsg", "lirc_mode2", "flow_dissector", "cgroup_sysctl",
    "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg", "cgroup_getsockopt", "cgroup_setsockopt",
    "trace_raw_tp", "trace_fentry", "trace_fexit", "modify_return", "lsm_mac", "trace_iter",
    "cgroup_inet4_getpeername", "cgroup_inet6_getpeername", "cgroup_inet4_getsockname",
    "cgroup_inet6_getsockname", "xdp_devmap", "cgroup_inet_sock_release", "xdp_cpumap",
    "sk_lookup", "xdp", "sk_skb_verdict", "sk_reuseport_select",
    "sk_reuseport_select_or_migrate", "perf_event", "trace_kprobe_multi", "lsm_cgroup",
    "struct_ops", "netfilter", "tcx_ingress", "tcx_egress", "trace_uprobe_multi",
    "cgroup_unix_connect", "cgroup_unix_sendmsg", "cgroup_unix_recvmsg",
    "cgroup_unix_getpeername", "cgroup_unix_getsockname", "netkit_primary", "netkit_peer",
    "trace_kprobe_session", "trace_uprobe_session",
)  # fmt: skip

# Map types whose values hold one slot per possible CPU.
PER_CPU_MAP_TYPES = frozenset({5, 6, 10, 21})

MAP_TYPE_IDS = {name: i for i, name in enumerate(MAP_TYPES)}
PROG_TYPE_IDS = {name: i for i, name in enumerate(PROG_TYPES)}
LINK_TYPE_IDS = {name: i for i, name in enumerate(LINK_TYPES)}

NETFILTER_PF = {2: "ipv4", 10: "ipv6"}
NETFILTER_HOOKS = ("prerouting", "input", "forward", "output", "postrouting")

MAP_FLAGS: tuple[tuple[int, str], ...] = (
    (1 << 0, "NO_PREALLOC"),
    (1 << 1, "NO_COMMON_LRU"),
    (1 << 2, "NUMA_NODE"),
    (1 << 3, "RDONLY"),
    (1 << 4, "WRONLY"),
    (1 << 5, "STACK_BUILD_ID"),
    (1 << 6, "ZERO_SEED"),
    (1 << 7, "RDONLY_PROG"),
    (1 << 8, "WRONLY_PROG"),
    (1 << 9, "CLONE"),
    (1 << 10, "MMAPABLE"),
    (1 << 11, "PRESERVE_ELEMS"),
    (1 << 12, "INNER_MAP"),
    (1 << 13, "LINK"),
    (1 << 14, "PATH_FD"),
    (1 << 15, "VTYPE_BTF_OBJ_FD"),
    (1 << 16, "TOKEN_FD"),
    (1 << 17, "SEGV_ON_FAULT"),
    (1 << 18, "NO_USER_CONV"),
)


def _name(table: tuple[str, ...], value: int, unknown: str) -> str:
    return table[value] if 0 <= value < len(table) else f"{unknown}({value})"


def map_type_name(value: int) -> str:
    """Contract name of a map type, `MapType(N)` when unknown."""
    return _name(MAP_TYPES, value, "MapType")


def prog_type_name(value: int) -> str:
    """Contract name of a program type, `ProgramType(N)` when unknown."""
    return _name(PROG_TYPES, value, "ProgramType")


def link_type_name(value: int) -> str:
    """Contract name of a link type, `LinkType(N)` when unknown."""
    return _name(LINK_TYPES, value, "LinkType")


def task_fd_type_name(value: int) -> str:
    """Name of a BPF_TASK_FD_QUERY fd_type."""
    return _name(TASK_FD_TYPES, value, "TaskType")


def attach_type_name(value: int) -> str:
    """libbpf's name of a bpf_attach_type."""
    return _name(ATTACH_TYPES, value, "attach_type")


def map_flag_names(flags: int) -> list[str]:
    """Decode BPF_F_* map flags into names; unknown bits as hex."""
    names = [name for bit, name in MAP_FLAGS if flags & bit]
    known = 0
    for bit, _ in MAP_FLAGS:
        known |= bit
    if flags & ~known:
        names.append(hex(flags & ~known))
    return names
