"""Every attachment of every program, whatever made it: bpf links, netlink (XDP through
`ip link`, tc filters), BPF_PROG_ATTACH on cgroups (and tcx) and perf events held by
processes. What `bpftool link`, `bpftool net`, `bpftool cgroup tree` and `bpftool perf`
show between them, as one list per program.

Computed once per Snapshot, on first use (`attachments_of`), and only the sources that can
have something to say are read: netlink only when XDP or tc programs are loaded, the cgroup
tree only for the attach types of the loaded cgroup programs, the processes' fds (/proc)
only when tracepoint, kprobe, perf-event or raw-tracepoint programs are. An attachment a
link made also shows in the netlink and query answers: the link's is kept (it has the link
id), with what the other source adds (the XDP mode, the process holding a perf event).

Not covered: tc actions (`tc action ... bpf`, RTM_GETACTION), bpf filters on the classes
of a classful qdisc (those on the qdisc itself are), socket filters (setsockopt: the kernel
lists them nowhere), and perf events without a tracepoint, kprobe or uprobe
(BPF_TASK_FD_QUERY cannot name them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..bpf import links as lk
from ..bpf.cgroup_attach import CGROUP_ATTACH_TYPES, attach_types_for, scan_cgroup_programs
from ..bpf.info import LinkInfo
from ..bpf.net_attach import NetAttachments, scan_net_attachments, scan_other_netns
from ..bpf.tasks import Task
from .inventory import Snapshot

LINK, NETLINK, CGROUP, PERF_EVENT, PROG_ATTACH = (
    "link", "netlink", "cgroup", "perf_event", "prog_attach",
)  # fmt: skip
XDP_PROG, SCHED_CLS, SCHED_ACT = 6, 3, 4  # enum bpf_prog_type
# Program types that perf events or raw tracepoint fds attach (BPF_TASK_FD_QUERY finds):
# Kprobe, TracePoint, PerfEvent, RawTracepoint, RawTracepointWritable
PERF_EVENT_PROG_TYPES = frozenset({2, 5, 7, 17, 24})
# `ip link` words for each XDP mode
XDP_MODE_WORDS = {"driver": "xdpdrv", "generic": "xdpgeneric", "offload": "xdpoffload"}
_TASK_KINDS = {  # bpftool perf's fd_type -> the kind of attach point
    "raw_tracepoint": "raw_tracepoint", "tracepoint": "tracepoint", "kprobe": "kprobe",
    "kretprobe": "kprobe", "uprobe": "uprobe", "uretprobe": "uprobe",
}  # fmt: skip
_LINK_KINDS = {
    lk.RAW_TRACEPOINT: "raw_tracepoint", lk.TRACING: "tracing", lk.CGROUP: "cgroup",
    lk.ITER: "iter", lk.NETNS: "netns", lk.XDP: "xdp", lk.PERF_EVENT: "perf_event",
    lk.KPROBE_MULTI: "kprobe", lk.STRUCT_OPS: "struct_ops", lk.NETFILTER: "netfilter",
    lk.TCX: "tcx", lk.UPROBE_MULTI: "uprobe", lk.NETKIT: "netkit", lk.SOCKMAP: "sockmap",
}  # fmt: skip


@dataclass(frozen=True)
class Attachment:
    """Where and how a program is attached (GraphQL's Attachment). `label` is the short form
    of model.program_labels (`xdp eth0`, `tc ingress veth1`, `tracepoint sys_enter`)."""

    prog_id: int
    mechanism: str  # link, netlink, cgroup, perf_event or prog_attach (tcx without a link)
    kind: str
    target: str
    label: str
    attach_type: str | None = None
    ifindex: int | None = None
    ifname: str | None = None
    cgroup_path: str | None = None
    pid: int | None = None
    link_id: int | None = None
    mode: str | None = None
    netns: str | None = None  # the interface's network namespace, when not the agent's

    def to_json(self) -> dict[str, object]:
        """As GraphQL's Attachment spells it (the API and the CLI's JSON share this)."""
        return {
            "mechanism": self.mechanism,
            "kind": self.kind,
            "attachType": self.attach_type,
            "target": self.target,
            "ifindex": self.ifindex,
            "ifname": self.ifname,
            "cgroupPath": self.cgroup_path,
            "pid": self.pid,
            "linkId": self.link_id,
            "mode": self.mode,
            "netns": self.netns,
        }


def attachments_of(snap: Snapshot, prog_id: int) -> list[Attachment]:
    """The program's attachments: links first (by id), then netlink, cgroup and perf-event
    ones. The whole host's are computed at the first call on a snapshot."""
    return all_attachments(snap).get(prog_id, [])


def all_attachments(snap: Snapshot) -> dict[int, list[Attachment]]:
    """Program id -> its attachments, once per snapshot."""
    return snap.memo(("model.attachments",), lambda: _collect(snap))


# ---------------------------------------------------------------- labels


def link_label(link: LinkInfo, cgroup_path: str | None = None) -> str:
    """A link's attach point in short form, e.g. `xdp lo`, `cgroup inet_ingress /sys/fs/cgroup`,
    `raw_tp sched_switch`, `netfilter ipv4 prerouting prio 10`."""
    d = link.details
    parts: list[object]
    if link.type == lk.XDP:
        parts = ["xdp", d.get("devname") or f"ifindex {d.get('ifindex')}"]
    elif link.type in (lk.TCX, lk.NETKIT):
        kind = "tcx" if link.type == lk.TCX else "netkit"
        parts = [kind, d.get("attach_type"), d.get("devname") or f"ifindex {d.get('ifindex')}"]
    elif link.type == lk.CGROUP:
        parts = ["cgroup", d.get("attach_type"), cgroup_path or f"id {d.get('cgroup_id')}"]
    elif link.type == lk.RAW_TRACEPOINT:
        parts = ["raw_tp", d.get("tp_name")]
    elif link.type == lk.TRACING:
        parts = [d.get("attach_type"), f"btf {d.get('target_btf_id')}"]
    elif link.type == lk.NETFILTER:
        parts = ["netfilter", d.get("pf"), d.get("hook"), f"prio {d.get('prio')}"]
    elif link.type == lk.NETNS:
        parts = ["netns", d.get("attach_type")]
    elif link.type == lk.ITER:
        parts = ["iter", d.get("target_name")]
    elif link.type in (lk.STRUCT_OPS, lk.SOCKMAP):
        parts = [link.type_name, f"map {d.get('map_id')}"]
    else:
        parts = [link.type_name]
    return " ".join(str(p) for p in parts if p not in (None, ""))


def task_label(task: Task) -> str:
    """A perf-event or raw-tracepoint attachment held by a process, e.g. `tracepoint
    sys_enter`, `uprobe /usr/bin/bash+0x1a2b`."""
    return f"{task.type_name.lower()} {_task_where(task)}"


def _task_where(task: Task) -> str:
    if task.name and task.probe_offset:
        return f"{task.name}+0x{task.probe_offset:x}"
    return task.name or f"0x{task.probe_addr:x}"


def _task_fd_type(task: Task) -> str:
    """bpftool perf's word for the fd type: `raw_tracepoint`, `kretprobe`, ..."""
    name = task.type_name
    return "raw_tracepoint" if name == "RawTracepoint" else name.lower()


# ---------------------------------------------------------------- the sources


def _from_link(link: LinkInfo, cgroup_path: str | None) -> Attachment:
    d = link.details
    kind = _LINK_KINDS.get(link.type, link.type_name.lower())
    attach_type = d.get("attach_type")
    raw_ifindex = d.get("ifindex")
    ifindex = raw_ifindex if isinstance(raw_ifindex, int) else None
    ifname = str(d.get("devname") or "") or None
    where = ifname or (f"ifindex {ifindex}" if ifindex is not None else None)
    mode: str | None = None
    if link.type == lk.XDP:
        attach_type, target = "xdp", f"{where} xdp"
    elif link.type in (lk.TCX, lk.NETKIT):
        mode = str(attach_type).rsplit("_", 1)[-1]
        target = f"{where} {kind} {mode}"
    elif link.type == lk.CGROUP:
        target = f"{cgroup_path or 'cgroup id ' + str(d.get('cgroup_id'))} {attach_type}"
    else:  # the short label without its first word (the kind): tp name, function, hook
        target = link_label(link).partition(" ")[2] or kind
    return Attachment(
        link.prog_id, LINK, kind, target, link_label(link, cgroup_path),
        attach_type=str(attach_type) if attach_type is not None else None, ifindex=ifindex,
        ifname=ifname, cgroup_path=cgroup_path, link_id=link.id, mode=mode,
    )  # fmt: skip


def _from_task(task: Task) -> Attachment:
    fd_type = _task_fd_type(task)
    return Attachment(task.prog_id, PERF_EVENT, _TASK_KINDS.get(fd_type, fd_type),
                      _task_where(task), task_label(task), attach_type=fd_type,
                      pid=task.pid)  # fmt: skip


def _net(net: NetAttachments, netns: str | None = None) -> list[Attachment]:
    """XDP and tc attachments from netlink, tcx ones from BPF_PROG_QUERY, of the agent's
    network namespace or (named `netns`) another one."""
    out = []
    where = f" (netns {netns})" if netns else ""
    for iface in net.interfaces:
        for prog_id, mode in iface.xdp:
            word = XDP_MODE_WORDS.get(mode, "xdp")
            out.append(Attachment(prog_id, NETLINK, "xdp", f"{iface.name} {word}{where}",
                                  f"{word} {iface.name}{where}", attach_type="xdp",
                                  ifindex=iface.ifindex, ifname=iface.name, mode=mode,
                                  netns=netns))  # fmt: skip
    for f in net.tc:
        name = net.ifname(f.ifindex) or f"ifindex {f.ifindex}"
        qdisc = f" ({f.qdisc})" if f.qdisc else ""  # a classful qdisc's: `(htb 1:)`
        out.append(Attachment(f.prog_id, NETLINK, "tc", f"{name} tc {f.direction}{qdisc}{where}",
                              f"tc {f.direction} {name}{qdisc}{where}", ifindex=f.ifindex,
                              ifname=name, mode=f.direction, netns=netns))  # fmt: skip
    for t in net.tcx:
        name = net.ifname(t.ifindex) or f"ifindex {t.ifindex}"
        attach_type = f"tcx_{t.direction}"
        out.append(Attachment(t.prog_id, LINK if t.link_id else PROG_ATTACH, "tcx",
                              f"{name} tcx {t.direction}{where}",
                              f"tcx {attach_type} {name}{where}", attach_type=attach_type,
                              ifindex=t.ifindex, ifname=name, link_id=t.link_id or None,
                              mode=t.direction, netns=netns))  # fmt: skip
    return out


def _collect(snap: Snapshot) -> dict[int, list[Attachment]]:
    programs = snap.programs
    prog_types = {p.type for p in programs.values()}
    by_prog: dict[int, list[Attachment]] = {}
    for link in sorted(snap.links.values(), key=lambda li: li.id):
        cgroup_id = link.details.get("cgroup_id")
        path = snap.cgroup_path(int(str(cgroup_id))) if cgroup_id is not None else None
        by_prog.setdefault(link.prog_id, []).append(_from_link(link, path))
    others: list[Attachment] = []
    if prog_types & {XDP_PROG, SCHED_CLS, SCHED_ACT}:
        with_tcx = SCHED_CLS in prog_types
        others += _net(scan_net_attachments(with_tcx))  # first: links are matched here first
        for netns, found in scan_other_netns(with_tcx):
            others += _net(found, netns.name)
    if prog_types & CGROUP_ATTACH_TYPES.keys():
        for c in scan_cgroup_programs(attach_types_for(prog_types)):
            others.append(Attachment(c.prog_id, CGROUP, "cgroup", f"{c.path} {c.attach_type}",
                                     f"cgroup {c.attach_type} {c.path}",
                                     attach_type=c.attach_type, cgroup_path=c.path))  # fmt: skip
    if prog_types & PERF_EVENT_PROG_TYPES:  # else no /proc walk (~2 us per open fd)
        for prog_id in programs:
            others += [_from_task(t) for t in snap.tasks_of_program(prog_id)]
    merged: dict[int, set[int]] = {}
    for a in others:
        _merge(by_prog.setdefault(a.prog_id, []), a, merged.setdefault(a.prog_id, set()))
    return {k: v for k, v in by_prog.items() if v}


def _same_place(link: Attachment, other: Attachment) -> bool:
    """Whether `other` (from netlink, a query or a process's fd) is the attachment `link`
    made: same kind and interface, cgroup and attach type, or tracepoint."""
    if link.mechanism != LINK or link.kind != other.kind:
        return False
    if other.link_id is not None:
        return other.link_id == link.link_id
    if link.kind in ("xdp", "tcx"):
        return link.ifindex == other.ifindex and link.mode in (None, other.mode)
    if link.kind == "cgroup":
        return (link.cgroup_path, link.attach_type) == (other.cgroup_path, other.attach_type)
    if link.kind == "raw_tracepoint":
        return link.pid is None and link.target == other.target
    return False


def _merge(found: list[Attachment], other: Attachment, merged: set[int]) -> None:
    """Add `other` to a program's attachments unless a link's attachment is the same one;
    then the link's takes what `other` adds (XDP mode, the process holding it). `merged`:
    the indexes of the links already matched to an interface or cgroup attachment, which
    one link makes once (an XDP link on ifindex 6 here is not also the one on ifindex 6 of
    another network namespace; the agent's own namespace is merged first)."""
    for i, a in enumerate(found):
        if _same_place(a, other):
            if a.kind in ("xdp", "tcx", "cgroup"):
                if i in merged:
                    continue
                merged.add(i)
            if a.kind == "xdp" and a.mode is None:
                found[i] = replace(a, mode=other.mode, target=other.target,
                                   ifname=other.ifname, netns=other.netns)  # fmt: skip
            elif other.pid is not None and a.pid is None:
                found[i] = replace(a, pid=other.pid)
            return
        if a.mechanism == LINK and a.kind == "perf_event" and other.mechanism == PERF_EVENT:
            # A perf link's info names no tracepoint (before 6.6): the event its process
            # holds does. One event per perf link.
            found[i] = replace(other, mechanism=LINK, link_id=a.link_id)
            return
    found.append(other)
