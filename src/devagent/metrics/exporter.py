"""Prometheus exporter: the kernel read at scrape time, no background polling, no stale series.

Interface used by devagent.web.app:
    exporter = MetricsExporter(settings, inventory)
    body, content_type = exporter.render(accept_header)   # sync, run it in a worker thread

Each scrape asks the Inventory for a Snapshot (shared by concurrent callers: one kernel walk
per `cache_max_age`) and renders it; an object that is gone from the kernel is gone from the
next scrape. Concurrent scrapes of the same snapshot in the same format also share the
rendered body. The families come from `DevAgentCollector`, a prometheus_client Collector
registered in the exporter's own CollectorRegistry (no global registry state).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

from ..bpf.maps import MapDump
from ..model.inventory import Inventory
from ..model.map_fill import map_fill, map_memlocks
from ..model.settings import Settings
from ..model.snapshot import Snapshot
from ..runtime.memory import later, release_free_memory
from .attachment_family import attachment_family
from .columns import ColumnRenderer
from .families import (
    RunStatsProbe,
    agent_object_family,
    contract_families,
    feature_family,
    map_families,
    non_empty,
    owner_families,
    program_families,
)
from .inventory_families import InventoryExport
from .map_export import MapEntryExporter
from .render import negotiate, render


class DevAgentCollector:
    """All devagent metric families for one snapshot (a prometheus_client custom Collector)."""

    def __init__(
        self,
        settings: Settings,
        inventory: Inventory,
        *,
        stats_enabled: Callable[[], bool] | None = None,
        read_map: Callable[[int], MapDump] | None = None,
    ) -> None:
        self.inventory = inventory
        self.entries = MapEntryExporter(
            settings.etm_rules, settings.etm_max_entries, read_map or inventory.map_dump
        )
        self._stats_enabled = stats_enabled or RunStatsProbe()
        self._budget = settings.map_entries_budget
        self._owner_labels = settings.metrics_owner_labels
        self.inventory_export = InventoryExport(
            settings.node_name or socket.gethostname(), settings.inventory_metrics_limit
        )

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not walk the kernel."""
        return []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families(self.inventory.snapshot()))

    def families(self, snap: Snapshot) -> list[Metric]:
        exports = self.entries.exports(snap)
        return list(
            non_empty(
                [
                    *contract_families(snap, exports),
                    *program_families(snap, self._stats_enabled()),
                    *map_families(snap, exports, map_memlocks(snap), map_fill(snap, self._budget)),
                    *(owner_families(snap) if self._owner_labels else []),
                    feature_family(self.inventory.features()),
                    agent_object_family(snap),
                    attachment_family(snap),
                    *self.inventory_export.families(snap),
                ]
            )
        )


# A body this big is worth letting go of once it can no longer be shared.
_BIG_BODY = 1 << 20


@dataclass(frozen=True)
class _Rendered:
    snapshot: Snapshot
    content_type: str
    body: bytes


class MetricsExporter:
    """Renders the exposition from the inventory at scrape time."""

    def __init__(
        self,
        settings: Settings,
        inventory: Inventory,
        *,
        schedule: Callable[[float, Callable[[], None]], None] = later,
    ) -> None:
        self.settings = settings
        self.inventory = inventory
        self.collector = DevAgentCollector(settings, inventory)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._lock = threading.Lock()
        self._last: _Rendered | None = None
        self.renders = 0  # bodies built (tests check that concurrent scrapes share one)
        self._schedule = schedule
        self._columns = ColumnRenderer()  # probed lines, kept across scrapes

    def render(self, accept_header: str | None) -> tuple[bytes, str]:
        """The exposition body and its content type (OpenMetrics when the scraper asks).

        Scrapes that arrive while a body for the same snapshot and format is being made wait
        for it and share it (single flight), like the snapshot itself.
        """
        encoder, content_type = negotiate(accept_header)
        with self._lock:
            snap = self.inventory.snapshot()
            last = self._last
            if last is not None and last.snapshot is snap and last.content_type == content_type:
                return last.body, content_type
            body = render(self.collector.families(snap), encoder, content_type, self._columns)
            self._last = _Rendered(snap, content_type, body)
            self.renders += 1
        if len(body) > _BIG_BODY or self.settings.etm_rules:
            # The body is shared only within its snapshot's max age, and --etm map reads are
            # reused only as long: past it, an idle server lets go of both.
            self._schedule(self.inventory.max_age, lambda: self._forget(snap))
        return body, content_type

    def _forget(self, snap: Snapshot) -> None:
        with self._lock:
            if self._last is not None and self._last.snapshot is snap:
                self._last = None
        # A big body alone needs nothing more: allocations past the mmap threshold go back
        # to the kernel when freed (runtime.memory.tune_allocator). Map reads for --etm leave
        # many smaller pieces: collect and trim then. Not otherwise: a full collection
        # holds the GIL for ms, and this runs 1 s after every big scrape, when the next UI
        # poll or scrape may be arriving.
        if self.settings.etm_rules:
            self.inventory.drop_stale_dumps()
            release_free_memory()

    @property
    def cached_body_size(self) -> int:
        """Bytes of the body kept for concurrent scrapes of the current snapshot (0: none)."""
        last = self._last
        return 0 if last is None else len(last.body)
