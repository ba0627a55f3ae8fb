"""The metric families: what the Go dev-agent exported (CONTRACT.md section 4), and more.

The six contract gauges keep their names, labels, HELP texts and types. The additions follow
Prometheus naming (base units, `_total` on counters, `_info` for info metrics) and are
`promtool check metrics` clean; the contract's names predate that and are kept as they are.
Families without samples are left out, as the Go client does.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from ..bpf import procfs, stats
from ..bpf.errors import BPFError
from ..bpf.handles import open_map
from ..bpf.info import MapInfo, ProgramInfo
from ..model.inventory import Snapshot
from .map_export import MapExport
from .render import MapEntryValueFamily

PROG_LABELS = ["id", "type", "tag", "name"]
MAP_LABELS = ["id", "name", "type"]


def _prog_labels(p: ProgramInfo) -> list[str]:
    return [str(p.id), p.type_name, p.tag, p.name]


def _map_labels(m: MapInfo) -> list[str]:
    return [str(m.id), m.name, m.type_name]


def _by_type(type_names: Iterable[str], name: str, doc: str) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=["type"])
    for type_name, count in sorted(Counter(type_names).items()):
        family.add_metric([type_name], count)
    return family


@dataclass
class RunStatsProbe:
    """Whether the kernel collects run counts and run times now.

    `devagent.bpf.stats.stats_enabled`, with its costly part cached: the sysctl and our own
    fds (`--enable-stats`) are read on every call, while the walk over every fd of every
    process is remembered for `scan_ttl` seconds.
    """

    scan_ttl: float = 15.0
    clock: Callable[[], float] = time.monotonic
    _scan: tuple[float, bool] | None = None

    def __call__(self) -> bool:
        own = os.getpid()
        if stats.sysctl_enabled() or stats.holds_stats_fd(own):
            return True
        now = self.clock()
        if self._scan is None or now - self._scan[0] >= self.scan_ttl:
            found = stats.any_holds_stats_fd(p for p in procfs.iter_pids() if p != own)
            self._scan = (now, found)
        return self._scan[1]


def map_memlock_bytes(map_id: int) -> int | None:
    """The kernel's estimate of a map's memory (`memlock:` in its fdinfo), None if unknown."""
    try:
        with open_map(map_id, read_only=True) as fd:
            value = procfs.read_fdinfo("self", fd.fd).get("memlock", "")
    except BPFError:
        return None
    return int(value) if value.isdigit() else None


def contract_families(snap: Snapshot, exports: Sequence[MapExport]) -> list[Metric]:
    """The six gauges of CONTRACT.md section 4, exactly."""
    progs = [snap.programs[i] for i in sorted(snap.programs)]
    maps = [snap.maps[i] for i in sorted(snap.maps)]
    run_count = GaugeMetricFamily(
        "devagent_ebpf_prog_run_count",
        "Number of times an eBPF program has been run",
        labels=PROG_LABELS,
    )
    run_time = GaugeMetricFamily(
        "devagent_ebpf_prog_run_time", "Total time spent running eBPF programs", labels=PROG_LABELS
    )
    for p in progs:
        run_count.add_metric(_prog_labels(p), p.run_count)
        run_time.add_metric(_prog_labels(p), p.run_time_ns / 1e9)
    entry_count = GaugeMetricFamily(
        "devagent_ebpf_map_entry_count", "Number of entries in an eBPF map", labels=MAP_LABELS
    )
    for e in exports:
        entry_count.add_metric(_map_labels(e.info), e.count)
    return [
        _by_type(
            (p.type_name for p in progs), "devagent_ebpf_prog_count", "Number of eBPF programs"
        ),
        run_count,
        run_time,
        _by_type((m.type_name for m in maps), "devagent_ebpf_map_count", "Number of eBPF maps"),
        entry_count,
        MapEntryValueFamily(exports),
    ]


def program_families(snap: Snapshot, stats_enabled: bool) -> list[Metric]:
    """Additions about programs, for users of bpftop and ebpf_exporter."""
    progs = [snap.programs[i] for i in sorted(snap.programs)]
    enabled = GaugeMetricFamily(
        "devagent_ebpf_stats_enabled",
        "Whether the kernel collects eBPF run counts and run times (1) or not (0): "
        "kernel.bpf_stats_enabled or a held BPF_ENABLE_STATS fd",
    )
    enabled.add_metric([], 1 if stats_enabled else 0)
    info = InfoMetricFamily(
        "devagent_ebpf_prog",
        "Static facts about a loaded eBPF program",
        labels=["id", "type", "tag", "name", "uid", "btf_id", "gpl_compatible"],
    )
    families = [(kind(name, doc, labels=PROG_LABELS), value)
                for kind, name, doc, value in _PROG_NUMBERS]  # fmt: skip
    for p in progs:
        labels = _prog_labels(p)
        info.add_metric(
            labels, {"uid": str(p.uid), "btf_id": str(p.btf_id),
                     "gpl_compatible": "true" if p.gpl_compatible else "false"},
        )  # fmt: skip
        for family, value in families:
            family.add_metric(labels, value(p))
    return [enabled, info, *(family for family, _ in families)]


OWNER_LABELS = [
    "comm", "cgroup", "systemd_unit", "container_id", "container_runtime", "pod_uid", "pod_name",
    "pod_namespace",
]  # fmt: skip


def owner_families(snap: Snapshot) -> list[Metric]:
    """`--metrics-owner-labels`: devagent_ebpf_prog_owner_info, one series per program and
    distinct place its owning processes run (pids are left out: they would make a new series
    at every restart). Join it on `id` to label any per-program metric by pod or container:
    `devagent_ebpf_prog_runs_total * on(id) group_left(pod_name) devagent_ebpf_prog_owner_info`
    (where a program has several owners, aggregate the info first)."""
    info = InfoMetricFamily(
        "devagent_ebpf_prog_owner",
        "Where a process holding an eBPF program runs: its command, cgroup, systemd unit, "
        "container and Kubernetes pod (empty when not applicable)",
        labels=[*PROG_LABELS, *OWNER_LABELS],
    )
    for prog_id in sorted(snap.programs):
        prog = snap.programs[prog_id]
        seen: set[tuple[str, ...]] = set()
        for owner in snap.owners("program", prog_id):
            w = snap.workload(owner.pid)
            c, pod = w.container, w.pod
            values = (
                owner.comm, w.cgroup or "", w.systemd_unit or "", c.id if c else "",
                c.runtime if c else "", pod.uid if pod else "", (pod.name or "") if pod else "",
                (pod.namespace or "") if pod else "",
            )  # fmt: skip
            if values not in seen:
                seen.add(values)
                info.add_metric(_prog_labels(prog), dict(zip(OWNER_LABELS, values, strict=True)))
    return [info]


# (family class, name, HELP, value) of the per-program additions: each written once.
_PROG_NUMBERS: tuple[
    tuple[type[GaugeMetricFamily | CounterMetricFamily], str, str, Callable[[ProgramInfo], float]],
    ...,
] = (
    (GaugeMetricFamily, "devagent_ebpf_prog_load_timestamp_seconds",
     "When the program was loaded, unix time", lambda p: p.loaded_at.timestamp()),
    (GaugeMetricFamily, "devagent_ebpf_prog_jited_bytes",
     "Size of the program's JIT-compiled code", lambda p: p.jited_size),
    (GaugeMetricFamily, "devagent_ebpf_prog_xlated_bytes",
     "Size of the program's translated bytecode", lambda p: p.xlated_size),
    (GaugeMetricFamily, "devagent_ebpf_prog_verified_insns",
     "Instructions the verifier processed", lambda p: p.verified_insns),
    (CounterMetricFamily, "devagent_ebpf_prog_runs",
     "Times the program has run while run statistics were on", lambda p: p.run_count),
    (CounterMetricFamily, "devagent_ebpf_prog_run_seconds",
     "Time spent running the program (statistics on)", lambda p: p.run_time_ns / 1e9),
    (CounterMetricFamily, "devagent_ebpf_prog_recursion_misses",
     "Runs skipped because of recursion", lambda p: p.recursion_misses),
)  # fmt: skip

# (name, HELP, value) of the per-map size gauges.
_MAP_NUMBERS: tuple[tuple[str, str, Callable[[MapInfo], float]], ...] = (
    ("devagent_ebpf_map_max_entries", "Maximum number of entries of an eBPF map",
     lambda m: m.max_entries),
    ("devagent_ebpf_map_key_bytes", "Size of a key of an eBPF map", lambda m: m.key_size),
    ("devagent_ebpf_map_value_bytes", "Size of a value of an eBPF map (one CPU's)",
     lambda m: m.value_size),
)  # fmt: skip


def map_families(
    snap: Snapshot, exports: Sequence[MapExport], memlock: Callable[[int], int | None]
) -> list[Metric]:
    """Additions about maps: sizes, memory, and what --etm left out."""
    maps = [snap.maps[i] for i in sorted(snap.maps)]
    families = [(GaugeMetricFamily(name, doc, labels=MAP_LABELS), value)
                for name, doc, value in _MAP_NUMBERS]  # fmt: skip
    memlock_bytes = GaugeMetricFamily(
        "devagent_ebpf_map_memlock_bytes", "Memory the kernel accounts to an eBPF map",
        labels=MAP_LABELS,
    )  # fmt: skip
    for m in maps:
        labels = _map_labels(m)
        for family, value in families:
            family.add_metric(labels, value(m))
        mem = memlock(m.id)
        if mem is not None:
            memlock_bytes.add_metric(labels, mem)
    truncated = GaugeMetricFamily(
        "devagent_ebpf_map_entry_truncated",
        "Entries of an exported eBPF map left out of devagent_ebpf_map_entry_value "
        "(--etm-max-entries); 0 when all are exported",
        labels=MAP_LABELS,
    )
    for e in exports:
        truncated.add_metric(_map_labels(e.info), e.truncated)
    return [*(family for family, _ in families), memlock_bytes, truncated]


def non_empty(families: Iterable[Metric]) -> Iterator[Metric]:
    """Families with at least one sample (the entry-value family counts its exports)."""
    for f in families:
        if isinstance(f, MapEntryValueFamily):
            if f.exports:
                yield f
        elif f.samples:
            yield f
