"""Short texts that describe a program in one table cell: its name, where it is attached, and
who holds it. `phydev top` (local and remote) and the API's `attachPoint` use these, so the
same program reads the same everywhere.
"""

from __future__ import annotations

from ..bpf import links as lk
from ..bpf.info import LinkInfo, ProgramInfo
from ..bpf.tasks import Task
from .identity import ProgramIdentities
from .inventory import Snapshot
from .stats_mode import owner_label

# Full names outlive snapshots (fixed for a loaded program): one cache for every view of
# this process that has no Inventory of its own to ask.
_IDENTITIES = ProgramIdentities()


def program_display_name(info: ProgramInfo, identities: ProgramIdentities | None = None) -> str:
    """The name every view shows for a program: its kernel name, or where the kernel cut it
    at 15 characters, the BTF name of its main function (model.identity, bpftool's rule).
    Every name `phydev top` shows goes through here."""
    return (identities or _IDENTITIES).full_name(info)


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
    kind = task.type_name.lower()
    if task.name and task.probe_offset:
        return f"{kind} {task.name}+0x{task.probe_offset:x}"
    if task.name:
        return f"{kind} {task.name}"
    return f"{kind} 0x{task.probe_addr:x}"


def attach_labels(snap: Snapshot, prog_id: int) -> list[str]:
    """Every attach point of the program the snapshot knows: links, then attachments held
    through perf events / raw tracepoint fds (the latter costs a /proc walk per snapshot)."""
    out = []
    for link in snap.links_of_program(prog_id):
        cgroup_id = link.details.get("cgroup_id")
        path = snap.cgroup_path(int(str(cgroup_id))) if cgroup_id is not None else None
        out.append(link_label(link, path))
    out.extend(task_label(t) for t in snap.tasks_of_program(prog_id))
    return out


def attach_summary(labels: list[str]) -> str:
    """One cell: the first attach point, and how many more there are; `-` for none (e.g. a
    socket filter attached with setsockopt, which the kernel does not list anywhere)."""
    if not labels:
        return "-"
    return labels[0] if len(labels) == 1 else f"{labels[0]} (+{len(labels) - 1})"


def first_owner(snap: Snapshot, prog_id: int) -> str:
    """The first process holding an fd to the program, as comm[pid]; `-` for none."""
    owners = snap.owners("program", prog_id)
    return owner_label(owners[0].comm, owners[0].pid) if owners else "-"
