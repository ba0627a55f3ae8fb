"""The metric families: what the Go dev-agent exported (CONTRACT.md section 4), and more.

The six contract gauges keep their names, labels, HELP texts and types. The additions follow
Prometheus naming (base units, `_total` on counters, `_info` for info metrics) and are
`promtool check metrics` clean; the contract's names predate that and are kept as they are.
Families without samples are left out, as the Go client does.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric

from ..bpf import procfs, stats
from ..bpf.features import Feature
from ..bpf.info import MapInfo, ProgramInfo
from ..model.map_fill import MapFill
from ..model.snapshot import Snapshot
from .columns import ColumnFamily
from .map_export import MapExport
from .render import MapEntryValueFamily

PROG_LABELS = ["id", "type", "tag", "name"]
MAP_LABELS = ["id", "name", "type"]


def _prog_labels(p: ProgramInfo) -> tuple[str, ...]:
    return (str(p.id), p.type_name, p.tag, p.name)


def _map_labels(m: MapInfo) -> tuple[str, ...]:
    return (str(m.id), m.name, m.type_name)


class _Rows:
    """Label values by object id, kept across scrapes (an object's labels never change) and
    trimmed to the objects of the latest snapshot. Thread-safe."""

    def __init__(self, labels: Callable[[Any], tuple[str, ...]]) -> None:
        self._labels = labels
        self._rows: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def __call__(self, infos: list[Any]) -> list[tuple[str, ...]]:
        with self._lock:
            known = self._rows
        make = self._labels
        rows = {i.id: known.get(i.id) or make(i) for i in infos}
        with self._lock:
            self._rows = rows
        return list(rows.values())


_prog_rows, _map_rows = _Rows(_prog_labels), _Rows(_map_labels)


def _programs(snap: Snapshot) -> list[ProgramInfo]:
    """The snapshot's programs in id order, once per snapshot."""
    progs = snap.programs
    return snap.memo("metrics:programs", lambda: [progs[i] for i in sorted(progs)])


def _maps(snap: Snapshot) -> list[MapInfo]:
    """The snapshot's maps in id order, once per snapshot."""
    maps = snap.maps
    return snap.memo("metrics:maps", lambda: [maps[i] for i in sorted(maps)])


def prog_rows(snap: Snapshot) -> list[tuple[str, ...]]:
    """The label values of every program, in id order: one list per snapshot, shared by
    every per-program family (their label text is then joined once)."""
    return snap.memo("metrics:prog_rows", lambda: _prog_rows(_programs(snap)))


def map_rows(snap: Snapshot) -> list[tuple[str, ...]]:
    """The label values of every map, in id order (see prog_rows)."""
    return snap.memo("metrics:map_rows", lambda: _map_rows(_maps(snap)))


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


def _gauge(name: str, doc: str, labels: Sequence[str]) -> ColumnFamily:
    return ColumnFamily(name, doc, "gauge", labels)


def contract_families(snap: Snapshot, exports: Sequence[MapExport]) -> list[Metric]:
    """The six gauges of CONTRACT.md section 4, exactly."""
    progs, maps = _programs(snap), _maps(snap)
    rows = prog_rows(snap)
    run_count = ColumnFamily(
        "devagent_ebpf_prog_run_count", "Number of times an eBPF program has been run", "gauge",
        PROG_LABELS, rows, [p.run_count for p in progs],
    )  # fmt: skip
    run_time = ColumnFamily(
        "devagent_ebpf_prog_run_time", "Total time spent running eBPF programs", "gauge",
        PROG_LABELS, rows, [p.run_time_ns / 1e9 for p in progs],
    )  # fmt: skip
    entry_count = _gauge(
        "devagent_ebpf_map_entry_count", "Number of entries in an eBPF map", MAP_LABELS
    )
    for e in exports:
        entry_count.add(_map_labels(e.info), e.count)
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


_INFO_KEYS = ("uid", "btf_id", "gpl_compatible")
_info_rows = _Rows(
    lambda p: (*_prog_labels(p), str(p.uid), str(p.btf_id), "true" if p.gpl_compatible else "false")
)


def program_families(snap: Snapshot, stats_enabled: bool) -> list[Metric]:
    """Additions about programs, for users of bpftop and ebpf_exporter."""
    progs = _programs(snap)
    enabled = GaugeMetricFamily(
        "devagent_ebpf_stats_enabled",
        "Whether the kernel collects eBPF run counts and run times (1) or not (0): "
        "kernel.bpf_stats_enabled or a held BPF_ENABLE_STATS fd",
    )
    enabled.add_metric([], 1 if stats_enabled else 0)
    rows = prog_rows(snap)
    info = ColumnFamily(
        "devagent_ebpf_prog", "Static facts about a loaded eBPF program", "info",
        [*PROG_LABELS, *_INFO_KEYS], _info_rows(progs), [1] * len(progs),
    )  # fmt: skip
    families = []
    for kind, name, doc, value in _PROG_NUMBERS:
        values = [value(p) for p in progs]
        # A field this kernel's bpf_prog_info does not have is None for every program: no
        # family rather than a made-up 0 (bpf.objects).
        if None not in values:
            known = cast(list[float], values)
            families.append(ColumnFamily(name, doc, kind, PROG_LABELS, rows, known))
    return [enabled, info, *families]


def feature_family(features: Sequence[Feature]) -> Metric:
    """devagent_ebpf_feature_info: one series per row of the kernel feature table
    (bpf.features), so dashboards and alerts see which hosts run degraded."""
    info = InfoMetricFamily(
        "devagent_ebpf_feature",
        "What the running kernel lets the agent do: status is works, degraded or unavailable "
        "(phydev inspect features says how or why)",
        labels=["feature", "status", "since"],
    )
    for f in features:
        info.add_metric([f.name, f.status, f.since or ""], {})
    return info


def agent_object_family(snap: Snapshot) -> Metric:
    """devagent_ebpf_agent_object_info: one series per program and map that is the agent's
    own (its iterators, bpf.agent_objects), so that dashboards and alerts can leave them out:
    `devagent_ebpf_prog_run_count unless on(id) devagent_ebpf_agent_object_info{kind="program"}`.
    A separate family rather than a label on the others: the contract's gauges keep their
    label sets exactly (CONTRACT.md section 4), and a new label on every series of the other
    families would start new series for every object and break joins written on their
    labels."""
    info = InfoMetricFamily(
        "devagent_ebpf_agent_object",
        "An eBPF program or map that the agent itself loaded to read the kernel (its "
        "iterators, of this or another phydev process); kind is program or map",
        labels=["kind", "id", "name"],
    )
    programs, maps = snap.programs, snap.maps
    for prog_id in sorted(snap.agent_programs):
        if prog_id in programs:
            info.add_metric(["program", str(prog_id), programs[prog_id].name], {})
    for map_id in sorted(snap.agent_maps):
        if map_id in maps:
            info.add_metric(["map", str(map_id), maps[map_id].name], {})
    return info


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
    info = ColumnFamily(
        "devagent_ebpf_prog_owner",
        "Where a process holding an eBPF program runs: its command, cgroup, systemd unit, "
        "container and Kubernetes pod (empty when not applicable)",
        "info",
        [*PROG_LABELS, *OWNER_LABELS],
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
                info.add((*_prog_labels(prog), *values), 1)
    return [info]


# (family type, name, HELP, value) of the per-program additions: each written once.
_PROG_NUMBERS: tuple[tuple[str, str, str, Callable[[ProgramInfo], float | None]], ...] = (
    ("gauge", "devagent_ebpf_prog_load_timestamp_seconds",
     "When the program was loaded, unix time", lambda p: p.loaded_at_ns / 1e9),
    ("gauge", "devagent_ebpf_prog_jited_bytes",
     "Size of the program's JIT-compiled code", lambda p: p.jited_size),
    ("gauge", "devagent_ebpf_prog_xlated_bytes",
     "Size of the program's translated bytecode", lambda p: p.xlated_size),
    ("gauge", "devagent_ebpf_prog_verified_insns",
     "Instructions the verifier processed", lambda p: p.verified_insns),
    ("counter", "devagent_ebpf_prog_runs",
     "Times the program has run while run statistics were on", lambda p: p.run_count),
    ("counter", "devagent_ebpf_prog_run_seconds",
     "Time spent running the program (statistics on)", lambda p: p.run_time_ns / 1e9),
    ("counter", "devagent_ebpf_prog_recursion_misses",
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
    snap: Snapshot, exports: Sequence[MapExport], memlocks: Mapping[int, int], fill: MapFill
) -> list[Metric]:
    """Additions about maps: sizes, memory, fill, and what --etm left out."""
    maps = _maps(snap)
    rows = map_rows(snap)
    families = [ColumnFamily(name, doc, "gauge", MAP_LABELS, rows, [value(m) for m in maps])
                for name, doc, value in _MAP_NUMBERS]  # fmt: skip
    memlock_bytes = _gauge(
        "devagent_ebpf_map_memlock_bytes", "Memory the kernel accounts to an eBPF map", MAP_LABELS
    )
    entries = _gauge(
        "devagent_ebpf_map_entries",
        "Entries present in an eBPF map (arrays: max_entries); maps over the counting budget "
        "(--map-entries-budget) are left out, see devagent_ebpf_map_entries_skipped",
        MAP_LABELS,
    )
    counts = fill.counts
    for m, labels in zip(maps, rows, strict=True):
        mem = memlocks.get(m.id)
        if mem is not None:
            memlock_bytes.rows.append(labels)
            memlock_bytes.values.append(mem)
        count = counts.get(m.id)
        if count is not None:
            entries.rows.append(labels)
            entries.values.append(count)
    skipped = GaugeMetricFamily(
        "devagent_ebpf_map_entries_skipped",
        "eBPF maps whose entries were not counted in this scrape because the counting budget "
        "(--map-entries-budget) ran out",
    )
    skipped.add_metric([], len(fill.skipped))
    truncated = _gauge(
        "devagent_ebpf_map_entry_truncated",
        "Entries of an exported eBPF map left out of devagent_ebpf_map_entry_value "
        "(--etm-max-entries); 0 when all are exported",
        MAP_LABELS,
    )
    for e in exports:
        truncated.add(_map_labels(e.info), e.truncated)
    return [*families, memlock_bytes, entries, skipped, truncated]


def non_empty(families: Iterable[Metric]) -> Iterator[Metric]:
    """Families with at least one sample (the entry-value family counts its exports)."""
    for f in families:
        if isinstance(f, ColumnFamily):
            if f.rows:
                yield f
        elif isinstance(f, MapEntryValueFamily):
            if f.exports:
                yield f
        elif f.samples:
            yield f
