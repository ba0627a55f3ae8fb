"""The host's eBPF inventory as info metrics, each series labelled with the node: what a fleet
view asks Prometheus (which programs run where, on how many nodes, by tag or name).

- devagent_agent_info{node, version, kernel}: one series per agent, so numbers without a
  node label join to their node through `on(instance, job)`;
- devagent_ebpf_program_info{node, id, name, full_name, type, tag, attach, workload};
- devagent_ebpf_map_info{node, id, name, type, max_entries};
- devagent_ebpf_link_info{node, id, type, prog_id, attach}.

Series count: one per program, map and link, plus one agent series; at most `limit` per kind
(`--inventory-metrics-limit`), the lowest ids first, and devagent_ebpf_inventory_truncated{kind}
says how many were left out. Labels are what stays fixed while an object lives (no pids,
counters or link ids in labels other than the object's own id), so a series starts when the
object appears and ends when it goes. The agent's own objects are not listed.

A program's attach point and workload need the walk over every process's fds (perf-event
attachments, owners): they are worked out when the program first shows and again every
`refresh` seconds, not at every scrape, so a scrape walks /proc only when programs appeared
(or once per refresh).
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric

from .. import __version__
from ..model.attachments import link_label
from ..model.program_labels import attach_labels, attach_summary
from ..model.snapshot import Snapshot
from .columns import ColumnFamily

PROGRAM_LABELS = ["node", "id", "name", "full_name", "type", "tag", "attach", "workload"]
MAP_LABELS = ["node", "id", "name", "type", "max_entries"]
LINK_LABELS = ["node", "id", "type", "prog_id", "attach"]


def agent_family(node: str) -> Metric:
    info = InfoMetricFamily(
        "devagent_agent",
        "This agent: the node it runs on (--node-name), its version and the kernel's release",
        labels=["node", "version", "kernel"],
    )
    info.add_metric([node, __version__, platform.release()], {})
    return info


def workload_label(snap: Snapshot, prog_id: int) -> str:
    """Where the program's first owning process runs, in one fixed word: `pod NS/NAME`,
    `container ID12`, `unit NAME` or the process's command; empty with no owner."""
    owners = snap.owners("program", prog_id)
    if not owners:
        return ""
    w = snap.workload(owners[0].pid)
    if w.pod is not None and w.pod.name:
        return f"pod {w.pod.namespace or ''}/{w.pod.name}"
    if w.container is not None:
        return f"container {w.container.id[:12]}"
    if w.systemd_unit:
        return f"unit {w.systemd_unit}"
    return owners[0].comm


def _first(ids: Sequence[int], limit: int) -> tuple[list[int], int]:
    ordered = sorted(ids)
    return ordered[:limit], max(0, len(ordered) - limit)


class InventoryExport:
    """The inventory families of each scrape's snapshot (see the module's docstring)."""

    def __init__(
        self,
        node: str,
        limit: int,
        refresh: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node, self.limit, self.refresh, self.clock = node, limit, refresh, clock
        self._labels: dict[int, tuple[float, str, str]] = {}  # id -> (when, attach, workload)
        self._lock = threading.Lock()

    def _program_labels(self, snap: Snapshot, ids: list[int]) -> dict[int, tuple[str, str]]:
        now = self.clock()
        with self._lock:
            known = self._labels
        fresh: dict[int, tuple[float, str, str]] = {}
        for i in ids:
            kept = known.get(i)
            if kept is None or now - kept[0] >= self.refresh:
                attach = attach_summary(attach_labels(snap, i))
                kept = (now, "" if attach == "-" else attach, workload_label(snap, i))
            fresh[i] = kept
        with self._lock:
            self._labels = fresh
        return {i: (a, w) for i, (_, a, w) in fresh.items()}

    def families(self, snap: Snapshot) -> list[Metric]:
        node = self.node
        programs, maps, links = snap.programs, snap.maps, snap.links
        # The agent's own iterators are left out (devagent_ebpf_agent_object_info lists them).
        own_progs, own_maps, own_links = snap.agent_programs, snap.agent_maps, snap.agent_links
        prog_ids, prog_cut = _first([i for i in programs if i not in own_progs], self.limit)
        map_ids, map_cut = _first([i for i in maps if i not in own_maps], self.limit)
        link_ids, link_cut = _first([i for i in links if i not in own_links], self.limit)
        prog_info = ColumnFamily(
            "devagent_ebpf_program",
            "A loaded eBPF program on a node: names, type, tag, where it is attached (the "
            "first attach point, with (+N) for more) and the workload of its first owning "
            "process",
            "info",
            PROGRAM_LABELS,
        )
        labels = self._program_labels(snap, prog_ids)
        for i in prog_ids:
            p = programs[i]
            attach, workload = labels[i]
            prog_info.add(
                (node, str(i), p.name, snap.full_name(i), p.type_name, p.tag, attach, workload),
                1,
            )
        map_info = ColumnFamily(
            "devagent_ebpf_map", "A loaded eBPF map on a node", "info", MAP_LABELS
        )
        for i in map_ids:
            m = maps[i]
            map_info.add((node, str(i), m.name, m.type_name, str(m.max_entries)), 1)
        link_info = ColumnFamily(
            "devagent_ebpf_link", "A bpf link on a node: its type, program and attach point",
            "info", LINK_LABELS,
        )  # fmt: skip
        for i in link_ids:
            link = links[i]
            cgroup = link.details.get("cgroup_id")
            path = snap.cgroup_path(cgroup) if isinstance(cgroup, int) else None
            link_info.add(
                (node, str(i), link.type_name, str(link.prog_id), link_label(link, path)), 1
            )
        truncated = GaugeMetricFamily(
            "devagent_ebpf_inventory_truncated",
            "Objects of a kind left out of the inventory info metrics by --inventory-metrics-limit",
            labels=["kind"],
        )
        for kind, cut in (("program", prog_cut), ("map", map_cut), ("link", link_cut)):
            truncated.add_metric([kind], cut)
        return [agent_family(node), prog_info, map_info, link_info, truncated]
