"""Frames from a remote agent, through its GraphQL API: one query per refresh.

The query asks for the host, every program with its rates (the agent samples while we ask,
see model.sampler) and, when a program is selected, its detail and history in the same
request. The token goes in `Authorization: Bearer`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ...model.stats_mode import owner_label
from .frame import Detail, Frame, Header, MapLine, Row, SourceError

# The GraphQL field top shows as a program's name: the kernel's where nothing was cut, else
# the BTF name of the main function (the same rule as the local view).
NAME_FIELD = "fullName"

PROGRAM_FIELDS = (
    f"id {NAME_FIELD} type attachPoint owners {{ pid comm }} "
    "eventsPerSecond avgRunTimeNs cpuPercent recursionMissesPerSecond"
)
HOST_FIELDS = (
    "hostname kernelRelease cpuCount statsMode statsDescription programCount mapCount "
    "linkCount cpuPercent hostCpuPercent eventsPerSecond"
)
DETAIL_FIELDS = (
    f"id {NAME_FIELD} type owners {{ pid comm }} attachPoint "
    "maps { id name type maxEntries usedEntries memlockBytes }"
)


def top_query(selected: int | None, seconds: int = 300) -> str:
    """The one query of a refresh (with the selected program's detail, if any)."""
    detail = ""
    if selected is not None:
        detail = (
            f" detail: program(id: {selected}) {{ {DETAIL_FIELDS} }} "
            f"stats: programStats(ids: [{selected}], seconds: {seconds}) "
            "{ id points { eventsPerSecond cpuPercent } }"
        )
    return f"query Top {{ host {{ {HOST_FIELDS} }} programs {{ {PROGRAM_FIELDS} }}{detail} }}"


class RemoteSource:
    """Frames of the agent at `url` (e.g. http://host:8080, with or without /query)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        base = url.rstrip("/")
        # Only HTTP(S): urllib would also open file: and ftp: URLs.
        if urllib.parse.urlsplit(base).scheme.lower() not in ("http", "https"):
            raise SourceError(f"--agent {url}: not an http:// or https:// URL")
        self.endpoint = base if base.endswith("/query") else base + "/query"
        self.token = token
        self.timeout = timeout
        self.selected: int | None = None
        self._last: float | None = None

    def query(self, text: str) -> dict[str, Any]:
        """POST one operation; SourceError names what went wrong."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 http(s) only, checked in __init__
            self.endpoint, data=json.dumps({"query": text}).encode(), headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 as above
                body = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            hint = " (wrong or missing --auth-token?)" if err.code in (401, 403) else ""
            raise SourceError(f"{self.endpoint}: HTTP {err.code} {err.reason}{hint}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise SourceError(f"cannot reach {self.endpoint}: {reason}") from None
        except ValueError:
            raise SourceError(f"{self.endpoint}: the answer is not JSON") from None
        if not isinstance(body, dict) or body.get("errors") or not body.get("data"):
            errors = body.get("errors") if isinstance(body, dict) else body
            raise SourceError(f"{self.endpoint}: {errors}")
        return dict(body["data"])

    def refresh(self) -> Frame:
        try:
            data = self.query(top_query(self.selected))
        except SourceError as err:
            if self.selected is None or "not found" not in str(err):
                raise
            self.selected = None  # the selected program is gone: show the rest
            data = self.query(top_query(None))
        now = time.monotonic()
        interval = None if self._last is None else now - self._last
        self._last = now
        h = data["host"]
        header = Header(
            h["hostname"], h["kernelRelease"], h["cpuCount"], h["statsMode"],
            h["statsDescription"] + " (remote agent)", h["programCount"], h["mapCount"],
            h["linkCount"], h["cpuPercent"], h["hostCpuPercent"], h["eventsPerSecond"],
        )  # fmt: skip
        rows = [_row(p) for p in data["programs"]]
        detail = None
        if self.selected is not None:
            detail = _detail(data["detail"], data.get("stats") or [])
        return Frame(time.time(), interval, header, rows, detail)

    def close(self) -> None:
        """Nothing is held."""


def _owner(p: dict[str, Any]) -> str:
    owners = p.get("owners") or []
    return owner_label(owners[0]["comm"] or "", owners[0]["pid"]) if owners else "-"


def _row(p: dict[str, Any]) -> Row:
    return Row(
        p["id"], p.get(NAME_FIELD) or "", p["type"], p.get("attachPoint") or "-", _owner(p),
        p.get("eventsPerSecond"), p.get("avgRunTimeNs"), p.get("cpuPercent"),
        p.get("recursionMissesPerSecond"),
    )  # fmt: skip


def _detail(node: dict[str, Any], stats: list[dict[str, Any]]) -> Detail:
    points = stats[0]["points"] if stats else []
    attach = node.get("attachPoint")
    return Detail(
        id=node["id"],
        name=node.get(NAME_FIELD) or "",
        type=node["type"],
        events_history=[p["eventsPerSecond"] for p in points],
        cpu_history=[p["cpuPercent"] for p in points],
        links=[attach] if attach else [],
        owners=[owner_label(o["comm"] or "", o["pid"]) for o in node.get("owners") or []],
        maps=[
            MapLine(
                m["id"],
                m["name"] or "",
                m["type"],
                m["usedEntries"],
                m["maxEntries"] or 0,
                None if m["memlockBytes"] is None else int(m["memlockBytes"]),
            )
            for m in node.get("maps") or []
        ],
    )
