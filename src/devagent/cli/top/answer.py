"""A remote agent's answer to top's query, checked field by field while a Frame is built.

The answer comes from the network: another version of the agent, a proxy's error page, or
something hostile. Every field top reads is checked for its type on the way, so a wrong
shape is one ShapeError naming the field (`programs[3].id is not an integer`), never a
KeyError or TypeError inside the view, and every value in a Frame has the type it says.
"""

from __future__ import annotations

import math
from typing import Any

from ...model.stats_mode import owner_label
from .frame import Detail, Header, MapLine, Row

# The GraphQL field top shows as a program's name: the kernel's where nothing was cut, else
# the BTF name of the main function (the same rule as the local view).
NAME_FIELD = "fullName"


class ShapeError(Exception):
    """The answer is not what top's query asks for; the message names the field."""


class Node:
    """A JSON object at `path` (`programs[3]`; '' for `data` itself), read by typed getters
    that raise ShapeError for a missing field or a value of another type."""

    def __init__(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise ShapeError(f"{path or 'data'} is not an object")
        self.value = value
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def text(self, key: str) -> str:
        value = self.value.get(key)
        if not isinstance(value, str):
            raise ShapeError(f"{self.at(key)} is not a string")
        return value

    def text_or_none(self, key: str) -> str | None:
        return None if self.value.get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self.value.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ShapeError(f"{self.at(key)} is not an integer")
        return value

    def integer_or_none(self, key: str) -> int | None:
        return None if self.value.get(key) is None else self.integer(key)

    def number_or_none(self, key: str) -> float | None:
        """A rate or a size: null when unknown."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ShapeError(f"{self.at(key)} is not a number")
        if not math.isfinite(value):
            raise ShapeError(f"{self.at(key)} is not a finite number")
        return float(value)

    def node(self, key: str) -> Node:
        return Node(self.value.get(key), self.at(key))

    def nodes(self, key: str) -> list[Node]:
        """A list of objects; null counts as empty (owners, maps, stats)."""
        value = self.value.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ShapeError(f"{self.at(key)} is not a list")
        return [Node(item, f"{self.at(key)}[{i}]") for i, item in enumerate(value)]


def header(data: Node) -> Header:
    h = data.node("host")
    return Header(
        h.text("hostname"), h.text("kernelRelease"), h.integer("cpuCount"), h.text("statsMode"),
        h.text("statsDescription") + " (remote agent)", h.integer("programCount"),
        h.integer("mapCount"), h.integer("linkCount"), h.number_or_none("cpuPercent"),
        h.number_or_none("hostCpuPercent"), h.number_or_none("eventsPerSecond"),
    )  # fmt: skip


def rows(data: Node) -> list[Row]:
    if not isinstance(data.value.get("programs"), list):
        raise ShapeError("programs is not a list")  # null included: every agent has a list
    return [_row(p) for p in data.nodes("programs")]


def _owners(p: Node) -> list[str]:
    return [owner_label(o.text_or_none("comm") or "", o.integer("pid")) for o in p.nodes("owners")]


def _row(p: Node) -> Row:
    owners = _owners(p)
    return Row(
        p.integer("id"), p.text_or_none(NAME_FIELD) or "", p.text("type"),
        p.text_or_none("attachPoint") or "-", owners[0] if owners else "-",
        p.number_or_none("eventsPerSecond"), p.number_or_none("avgRunTimeNs"),
        p.number_or_none("cpuPercent"), p.number_or_none("recursionMissesPerSecond"),
        p.value.get("agentOwn") is True,  # anything else, or none: shown as the user's
    )  # fmt: skip


def detail(data: Node) -> Detail:
    node = data.node("detail")
    series = data.nodes("stats")
    points = series[0].nodes("points") if series else []
    attach = node.text_or_none("attachPoint")
    return Detail(
        id=node.integer("id"),
        name=node.text_or_none(NAME_FIELD) or "",
        type=node.text("type"),
        events_history=[p.number_or_none("eventsPerSecond") for p in points],
        cpu_history=[p.number_or_none("cpuPercent") for p in points],
        links=[attach] if attach else [],
        owners=_owners(node),
        maps=[_map(m) for m in node.nodes("maps")],
    )


def _map(m: Node) -> MapLine:
    memlock = m.number_or_none("memlockBytes")
    return MapLine(
        m.integer("id"), m.text_or_none("name") or "", m.text("type"),
        m.integer_or_none("usedEntries"), m.integer_or_none("maxEntries") or 0,
        None if memlock is None else int(memlock),
    )  # fmt: skip


def error_text(errors: Any) -> str:
    """The first GraphQL error's message (and how many more), whatever `errors` holds."""
    if not isinstance(errors, list) or not errors:
        return "errors of an unexpected shape"
    first = errors[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, str):
        return "errors of an unexpected shape"
    return message + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
