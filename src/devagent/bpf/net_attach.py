"""Programs attached to network interfaces, as `bpftool net` lists them: XDP from each
interface's IFLA_XDP (RTM_GETLINK), tc `bpf` filters on clsact/ingress qdiscs
(RTM_GETQDISC, RTM_GETTFILTER) and tcx from BPF_PROG_QUERY on the ifindex.

Attachments made through a bpf link show here too (with the link's id for tcx): the model
merges them with the links (model.attachments). `scan_net_attachments` reads the caller's
network namespace, `scan_other_netns` every other one (bpf.netns).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import BPFError
from .netns import NetNs, other_netns, run_in_netns
from .prog_query import attach_type_id, query_programs
from .rtnetlink import NetlinkError, RouteSocket, attr_str, attr_u32, parse_attrs

RTM_GETLINK, RTM_NEWLINK = 18, 16
RTM_GETQDISC, RTM_NEWQDISC = 38, 36
RTM_GETTFILTER, RTM_NEWTFILTER = 46, 44
IFLA_IFNAME, IFLA_XDP, IFLA_EXT_MASK = 3, 43, 29
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFLA_XDP_ATTACHED, IFLA_XDP_PROG_ID = 2, 4
IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID = 5, 6, 7
XDP_ATTACHED_DRV, XDP_ATTACHED_SKB, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI = 1, 2, 3, 4
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_NAME, TCA_BPF_FLAGS, TCA_BPF_ID = 7, 8, 11
TCA_BPF_FLAG_ACT_DIRECT = 1
# tc parents: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / TC_H_MIN_EGRESS)
TC_INGRESS_PARENT, TC_EGRESS_PARENT = 0xFFFFFFF2, 0xFFFFFFF3

_IFINFO = struct.Struct("=BxHiII")  # struct ifinfomsg
_TCMSG = struct.Struct("=BxxxiIII")  # struct tcmsg: family, ifindex, handle, parent, info

# XDP mode by IFLA_XDP_ATTACHED value, and the attribute holding each mode's program.
XDP_MODES = {XDP_ATTACHED_DRV: "driver", XDP_ATTACHED_SKB: "generic", XDP_ATTACHED_HW: "offload"}
_XDP_MODE_ATTRS = ((IFLA_XDP_DRV_PROG_ID, "driver"), (IFLA_XDP_SKB_PROG_ID, "generic"),
                   (IFLA_XDP_HW_PROG_ID, "offload"))  # fmt: skip


@dataclass(frozen=True)
class Interface:
    """A network interface of the current namespace and its XDP programs, (prog id, mode)."""

    ifindex: int
    name: str
    xdp: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class TcFilter:
    """A tc `bpf` filter: its program, interface, direction and what tc shows of it."""

    prog_id: int
    ifindex: int
    direction: str  # ingress or egress
    name: str  # TCA_BPF_NAME: the object file and section tc loaded it from
    direct_action: bool
    priority: int
    handle: int
    qdisc: str | None = None  # a classful egress qdisc, e.g. `htb 1:`; None for clsact/ingress


@dataclass(frozen=True)
class TcxProgram:
    """A program attached through tcx (6.6+): link_id 0 when BPF_PROG_ATTACH made it."""

    prog_id: int
    ifindex: int
    direction: str
    link_id: int


def _xdp_programs(attrs: dict[int, bytes]) -> tuple[tuple[int, str], ...]:
    nested = attrs.get(IFLA_XDP)
    if nested is None:
        return ()
    xdp = parse_attrs(nested)
    attached = (xdp.get(IFLA_XDP_ATTACHED) or b"\0")[0]  # a u8, unlike the ids
    if attached == XDP_ATTACHED_MULTI:  # one program per mode, each in its own attribute
        found = ((attr_u32(xdp, kind), mode) for kind, mode in _XDP_MODE_ATTRS)
        return tuple((prog, mode) for prog, mode in found if prog)
    prog_id = attr_u32(xdp, IFLA_XDP_PROG_ID)
    if attached in XDP_MODES and prog_id:
        return ((prog_id, XDP_MODES[attached]),)
    return ()


def list_interfaces(sock: RouteSocket) -> list[Interface]:
    """Every interface of the namespace, with its XDP programs (one RTM_GETLINK dump)."""
    out = []
    mask = struct.pack("=HHI", 8, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    for kind, body in sock.dump(RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0), mask):
        if kind != RTM_NEWLINK or len(body) < _IFINFO.size:
            continue
        ifindex = _IFINFO.unpack_from(body)[2]
        attrs = parse_attrs(body, _IFINFO.size)
        name = attr_str(attrs, IFLA_IFNAME) or f"ifindex {ifindex}"
        out.append(Interface(ifindex, name, _xdp_programs(attrs)))
    return out


def tc_qdiscs(sock: RouteSocket) -> dict[int, list[tuple[str, int]]]:
    """ifindex -> (kind, handle) of its qdiscs (one RTM_GETQDISC dump for all interfaces)."""
    out: dict[int, list[tuple[str, int]]] = {}
    for kind, body in sock.dump(RTM_GETQDISC, _TCMSG.pack(0, 0, 0, 0, 0)):
        if kind != RTM_NEWQDISC or len(body) < _TCMSG.size:
            continue
        _family, ifindex, handle, _parent, _info = _TCMSG.unpack_from(body)
        qdisc = attr_str(parse_attrs(body, _TCMSG.size), TCA_KIND)
        if qdisc:
            out.setdefault(ifindex, []).append((qdisc, handle))
    return out


def _filters(
    sock: RouteSocket, ifindex: int, parent: int, direction: str, qdisc: str | None = None
) -> list[TcFilter]:
    out: list[TcFilter] = []
    try:
        answers = list(sock.dump(RTM_GETTFILTER, _TCMSG.pack(0, ifindex, 0, parent, 0)))
    except NetlinkError:  # the qdisc went away meanwhile, or the kernel refuses the parent
        return out
    for kind, body in answers:
        if kind != RTM_NEWTFILTER or len(body) < _TCMSG.size:
            continue
        _family, _ifindex, handle, _parent, info = _TCMSG.unpack_from(body)
        attrs = parse_attrs(body, _TCMSG.size)
        if attr_str(attrs, TCA_KIND) != "bpf" or TCA_OPTIONS not in attrs:
            continue
        options = parse_attrs(attrs[TCA_OPTIONS])
        prog_id = attr_u32(options, TCA_BPF_ID)
        if not prog_id:
            continue
        flags = attr_u32(options, TCA_BPF_FLAGS) or 0
        out.append(TcFilter(prog_id, ifindex, direction, attr_str(options, TCA_BPF_NAME) or "",
                            bool(flags & TCA_BPF_FLAG_ACT_DIRECT), info >> 16, handle,
                            qdisc))  # fmt: skip
    return out


def list_tc_filters(sock: RouteSocket) -> list[TcFilter]:
    """The `bpf` filters of every clsact or ingress qdisc and of every qdisc given a handle
    (`tc qdisc add ... root handle 1: htb`): one qdisc dump, then one filter dump per
    direction or qdisc, only on the interfaces that have such qdiscs (most have none: the
    default ones have handle 0). Filters on a qdisc's classes (`parent 1:10`) are not read."""
    out: list[TcFilter] = []
    for ifindex, qdiscs in sorted(tc_qdiscs(sock).items()):
        kinds = {kind for kind, _ in qdiscs}
        if "clsact" in kinds:
            out += _filters(sock, ifindex, TC_INGRESS_PARENT, "ingress")
            out += _filters(sock, ifindex, TC_EGRESS_PARENT, "egress")
        elif "ingress" in kinds:  # its one block answers for any parent: ask once
            out += _filters(sock, ifindex, TC_INGRESS_PARENT, "ingress")
        for kind, handle in qdiscs:
            if handle and kind not in ("clsact", "ingress"):
                out += _filters(sock, ifindex, handle, "egress", f"{kind} {handle >> 16:x}:")
    return out


def list_tcx(ifindexes: list[int]) -> list[TcxProgram]:
    """tcx programs of each interface. A kernel without tcx (before 6.6) refuses the first
    query (EINVAL): then none are asked further."""
    out: list[TcxProgram] = []
    types = [(attach_type_id("tcx_ingress"), "ingress"), (attach_type_id("tcx_egress"), "egress")]
    for ifindex in ifindexes:
        for attach_type, direction in types:
            try:
                found = query_programs(ifindex, attach_type, with_links=True)
            except BPFError as e:
                if e.errno == 22:  # EINVAL: no tcx in this kernel
                    return out
                continue  # the interface went away meanwhile
            out += [TcxProgram(a.prog_id, ifindex, direction, a.link_id) for a in found]
    return out


@dataclass(frozen=True)
class NetAttachments:
    """Everything attached to the interfaces of the current network namespace."""

    interfaces: list[Interface]
    tc: list[TcFilter]
    tcx: list[TcxProgram]
    error: str | None = None  # why netlink could not be read, if it could not

    def ifname(self, ifindex: int) -> str | None:
        return next((i.name for i in self.interfaces if i.ifindex == ifindex), None)


def scan_other_netns(with_tcx: bool = True) -> list[tuple[NetNs, NetAttachments]]:
    """The XDP, tc and tcx programs of the other network namespaces (bpf.netns: `ip netns`
    ones and those of running processes), each read from inside it; namespaces without any,
    or that could not be entered, are left out."""
    out = []
    for netns in other_netns():
        try:
            found = run_in_netns(netns, lambda: scan_net_attachments(with_tcx))
        except OSError:
            continue  # gone meanwhile, or not ours to enter
        if found.tc or found.tcx or any(i.xdp for i in found.interfaces):
            out.append((netns, found))
    return out


def scan_net_attachments(with_tcx: bool = True) -> NetAttachments:
    """XDP, tc and tcx programs of every interface of this network namespace; an empty
    answer with the reason where netlink cannot be read (e.g. no AF_NETLINK in a sandbox)."""
    try:
        with RouteSocket() as sock:
            interfaces = list_interfaces(sock)
            tc = list_tc_filters(sock)
    except OSError as e:
        return NetAttachments([], [], [], f"netlink: {e}")
    tcx = list_tcx([i.ifindex for i in interfaces]) if with_tcx else []
    return NetAttachments(interfaces, tc, tcx)
