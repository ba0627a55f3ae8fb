"""Prometheus exporter (STUB: the interface is fixed, the content is being written).

Interface used by devagent.server:
    exporter = MetricsExporter(settings, inventory)
    body, content_type = exporter.render(accept_header)   # sync, run it in a worker thread
"""

from __future__ import annotations

from .inventory import Inventory
from .settings import Settings


class MetricsExporter:
    """Renders the exposition from the inventory at scrape time."""

    def __init__(self, settings: Settings, inventory: Inventory) -> None:
        self.settings = settings
        self.inventory = inventory

    def render(self, accept_header: str | None) -> tuple[bytes, str]:
        """The exposition body and its content type (OpenMetrics when the scraper asks)."""
        snap = self.inventory.snapshot()
        body = f"# stub\ndevagent_ebpf_prog_total {len(snap.programs)}\n".encode()
        return body, "text/plain; version=0.0.4; charset=utf-8"
