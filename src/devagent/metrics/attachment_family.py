"""devagent_ebpf_prog_attachment_info: one series per place a program is attached, whatever
made the attachment (model.attachments: links, netlink XDP and tc, cgroup BPF_PROG_ATTACH,
perf events).

A family of its own, joined on `id`, rather than an attach label on the per-program
families: the contract's gauges keep their label sets exactly (CONTRACT.md section 4), and a
program attached in two places would need two series of every number. Pids and link ids are
left out: they would start new series at every restart or re-attachment.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric

from ..model.attachments import all_attachments
from ..model.snapshot import Snapshot
from .columns import ColumnFamily
from .families import PROG_LABELS

ATTACHMENT_LABELS = ["mechanism", "kind", "attach_type", "target"]


def attachment_family(snap: Snapshot) -> Metric:
    """Every attachment of every program, as info series: `devagent_ebpf_prog_runs_total *
    on(id) group_left(target) devagent_ebpf_prog_attachment_info` labels a program's runs
    with where it is attached (aggregate first where a program has several)."""
    info = ColumnFamily(
        "devagent_ebpf_prog_attachment",
        "Where an eBPF program is attached and how (mechanism: link, netlink, cgroup, "
        "prog_attach or perf_event; kind: xdp, tc, tcx, cgroup, tracepoint, ...)",
        "info",
        [*PROG_LABELS, *ATTACHMENT_LABELS],
    )
    programs = snap.programs
    attachments = all_attachments(snap)
    for prog_id in sorted(attachments):
        prog = programs.get(prog_id)
        if prog is None:
            continue
        seen: set[tuple[str, ...]] = set()
        for a in attachments[prog_id]:
            values = (a.mechanism, a.kind, a.attach_type or "", a.target)
            if values not in seen:  # the same event held by several processes: one series
                seen.add(values)
                info.add((str(prog.id), prog.type_name, prog.tag, prog.name, *values), 1)
    return info
