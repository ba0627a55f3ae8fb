"""Frames from this host's kernel.

Each refresh takes one lean counter reading (bpf.counters: ids and three counters per
program) and counts maps and links by id walks; rates and sparklines come from
model.history. Names, attach points and owners change rarely and cost a full walk plus
/proc scans, so they come from an Inventory snapshot renewed every `context_age` seconds,
or at once when a program appears that the snapshot does not know.

Statistics: unless the kernel already collects them through the sysctl (or the user said
--no-enable-stats), the source holds a BPF_ENABLE_STATS fd for its whole life and closes
it in `close()`. Another process's fd is not relied upon: it may go away at any moment.
The sysctl is never written.
"""

from __future__ import annotations

import math

from ...bpf import stats as bpf_stats
from ...bpf.handles import Fd
from ...bpf.iter.walkers import CounterSource
from ...model.history import History
from ...model.host import count_maps_and_links, host_summary
from ...model.inventory import Inventory, Snapshot
from ...model.map_fill import map_fill, map_memlocks
from ...model.program_labels import (
    attach_labels,
    attach_summary,
    first_owner,
    program_display_name,
)
from ...model.rates import Rates, unknown_rate
from ...model.stats_mode import StatsProbe, owner_label
from .frame import Detail, Frame, Header, MapLine, Row

HISTORY_SECONDS = 300


class LocalSource:
    """Frames of this host. `close()` releases the stats fd (also on SIGINT/SIGTERM: the
    command's handlers turn both into a normal exit that reaches it)."""

    fleet = False  # one host's programs (frame.Source)

    def __init__(
        self,
        bpf_dir: str = "/sys/fs/bpf",
        *,
        interval: float = 1.0,
        enable_stats: bool = True,
        context_age: float = 5.0,
        map_entries_budget: int = 250_000,
    ) -> None:
        self.selected: int | None = None
        self.stats_fd: Fd | None = None
        # Why statistics could not be turned on (the header then says they are off).
        self.stats_problem: str | None = None
        if enable_stats and not bpf_stats.sysctl_enabled():
            self.stats_fd, self.stats_problem = bpf_stats.hold_stats()
        self.probe = StatsProbe(own_fd=self.stats_fd is not None)
        self.reader = CounterSource()
        self.history = History(capacity=max(2, math.ceil(HISTORY_SECONDS / interval) + 1))
        self.inventory = Inventory(bpf_dir, max_age=context_age)
        self.map_entries_budget = map_entries_budget
        self._last_time: int | None = None

    def refresh(self) -> Frame:
        counters = self.reader.read()
        status = self.probe.status()
        self.history.add(counters, status.enabled)
        rates = self.history.latest_rates()
        interval = (
            None if self._last_time is None else (counters.monotonic_ns - self._last_time) / 1e9
        )
        self._last_time = counters.monotonic_ns
        snap = self.inventory.snapshot()
        if any(i not in snap.programs and i not in snap.program_errors for i in counters.ids):
            self.inventory.invalidate()  # a program appeared: learn its name now
            snap = self.inventory.snapshot()
        maps, links = count_maps_and_links()
        summary = host_summary(status, len(counters), maps, links, rates)
        header = Header(
            summary.hostname,
            summary.kernel_release,
            summary.cpu_count,
            status.mode,
            status.describe("phydev top"),
            summary.programs,
            summary.maps,
            summary.links,
            summary.cpu_percent,
            summary.host_cpu_percent,
            summary.events_per_second,
        )
        rows = [_row(snap, prog_id, rates) for prog_id in counters.ids]
        detail = self._detail(snap, self.selected) if self.selected is not None else None
        return Frame(counters.wall_time, interval, header, rows, detail)

    def _detail(self, snap: Snapshot, prog_id: int) -> Detail | None:
        info = snap.programs.get(prog_id)
        if info is None:
            return None
        (series,) = self.history.series([prog_id], HISTORY_SECONDS)
        fill = map_fill(snap, self.map_entries_budget)
        memlocks = map_memlocks(snap)
        return Detail(
            id=prog_id,
            name=program_display_name(info, snap.identities),
            type=info.type_name,
            events_history=[p.events_per_second for p in series.points],
            cpu_history=[p.cpu_percent for p in series.points],
            links=attach_labels(snap, prog_id),
            owners=[owner_label(o.comm, o.pid) for o in snap.owners("program", prog_id)],
            maps=[
                MapLine(
                    m.id,
                    m.name,
                    m.type_name,
                    fill.counts.get(m.id),
                    m.max_entries,
                    memlocks.get(m.id),
                )
                for m in snap.maps_of_program(prog_id)
            ],
        )

    def close(self) -> None:
        """Let go of the stats fd (idempotent)."""
        if self.stats_fd is not None:
            self.stats_fd.close()
            self.stats_fd = None


def _row(snap: Snapshot, prog_id: int, rates: Rates | None) -> Row:
    info = snap.programs.get(prog_id)
    rate = rates.get(prog_id) if rates is not None else unknown_rate(prog_id)
    if info is None:  # loaded after the snapshot and gone before the renewal
        name, type_name, attach, owner = "?", "?", "-", "-"
    else:
        name, type_name = program_display_name(info, snap.identities), info.type_name
        attach = attach_summary(attach_labels(snap, prog_id))
        owner = first_owner(snap, prog_id)
    return Row(
        prog_id,
        name,
        type_name,
        attach,
        owner,
        rate.events_per_second,
        rate.avg_run_time_ns,
        rate.cpu_percent,
        rate.recursion_misses_per_second,
        prog_id in snap.agent_programs,
    )
