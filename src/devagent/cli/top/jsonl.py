"""`phydev top --json`: one JSON object per interval, for scripts (JSON Lines)."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from typing import Any

from .frame import FleetHeader, Frame, Source, shown_rows


def frame_json(frame: Frame, show_agent: bool = False) -> dict[str, Any]:
    """The documented shape: time (RFC 3339, UTC), interval (s), programs (with their
    attachPoint: every attachment, model.attachments) and totals. The agent's own programs
    are left out unless `show_agent` (totals are the host's). Fleet mode: fleet_json."""
    if isinstance(frame.header, FleetHeader):
        return fleet_json(frame, frame.header)
    return {
        "time": datetime.fromtimestamp(frame.wall_time, tz=timezone.utc).isoformat(),
        "interval": frame.interval,
        "programs": [
            {
                "id": r.id,
                "name": r.name,
                "type": r.type,
                "eventsPerSecond": r.events_per_second,
                "avgRunTimeNs": r.avg_run_time_ns,
                "cpuPercent": r.cpu_percent,
                "recursionMissesPerSecond": r.recursion_misses_per_second,
                "agentOwn": r.agent_own,
                # Where it is attached, as GraphQL's attachPoint (null for nowhere)
                "attachPoint": None if r.attach == "-" else r.attach,
            }
            for r in shown_rows(frame.rows, show_agent)
        ],
        "total": {
            "cpuPercent": frame.header.cpu_percent,
            "eventsPerSecond": frame.header.events_per_second,
        },
    }


def fleet_json(frame: Frame, h: FleetHeader) -> dict[str, Any]:
    """Fleet mode (--fleet): every node, and the programs ranked across them, each with
    its node (ids repeat across nodes)."""
    return {
        "time": datetime.fromtimestamp(frame.wall_time, tz=timezone.utc).isoformat(),
        "interval": frame.interval,
        "prometheus": h.prometheus,
        "rateWindow": h.rate_window,
        "nodes": [
            {
                "name": n.name,
                "up": n.up,
                "version": n.version,
                "kernel": n.kernel,
                "programCount": n.programs,
                "mapCount": n.maps,
                "cpuPercent": None if n.cpu_cores is None else n.cpu_cores * 100,
                "eventsPerSecond": n.events_per_second,
                "statsEnabled": n.stats_enabled,
                "url": n.url,
            }
            for n in h.nodes
        ],
        "programs": [
            {
                "node": r.node,
                "id": r.id,
                "name": r.name,
                "type": r.type,
                "attachPoint": None if r.attach == "-" else r.attach,
                "workload": None if r.owner == "-" else r.owner,
                "eventsPerSecond": r.events_per_second,
                "avgRunTimeNs": r.avg_run_time_ns,
                "cpuPercent": r.cpu_percent,
            }
            for r in frame.rows
        ],
        "total": {
            "cpuPercent": None if (c := h.total("cpu_cores")) is None else c * 100,
            "eventsPerSecond": h.total("events_per_second"),
        },
    }


def run_json(source: Source, interval: float, count: int | None, show_agent: bool = False) -> None:
    """Print `count` lines (forever if None), one per interval. The first reading only sets
    the baseline, so every printed line has rates (null only for programs that appeared
    during its interval)."""
    import orjson

    out = sys.stdout.buffer
    next_at = time.monotonic()
    source.refresh()
    printed = 0
    while count is None or printed < count:
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
        out.write(orjson.dumps(frame_json(source.refresh(), show_agent)) + b"\n")
        out.flush()
        printed += 1
