"""Text of the top screen (no Textual here): columns, cells, header lines, the detail pane,
sorting and filtering. Pure functions of a Frame, so they are tested without a terminal.

Names, owners, attach points and host fields come from the kernel, /proc or a remote agent:
they go out through `plain` (escaped, never parsed as markup)."""

from __future__ import annotations

from rich.text import Text

from .frame import Detail, Header, Row
from .plain import printable, shown

COLUMNS = ["ID", "Name", "Type", "Attach", "Owner", "Events/s", "Avg ns", "CPU %", "RecMiss/s"]
_TEXT_COLUMNS = {"ID": "id", "Name": "name", "Type": "type", "Attach": "attach", "Owner": "owner"}
_NUMBER_COLUMNS = {
    "Events/s": "events_per_second",
    "Avg ns": "avg_run_time_ns",
    "CPU %": "cpu_percent",
    "RecMiss/s": "recursion_misses_per_second",
}


def number(value: float | None, digits: int = 1) -> str:
    """A rate for a cell: `-` when unknown, thousands separated."""
    return "-" if value is None else f"{value:,.{digits}f}"


def cell_texts(row: Row) -> list[Text]:
    """The row's cells as Text: a str cell would be parsed as Rich markup by the table."""
    return [
        shown(str(row.id)),
        shown(row.name),
        shown(row.type),
        shown(row.attach),
        shown(row.owner),
        shown(number(row.events_per_second)),
        shown(number(row.avg_run_time_ns, 0)),
        shown(number(row.cpu_percent, 2)),
        shown(number(row.recursion_misses_per_second)),
    ]


def header_lines(h: Header) -> list[str]:
    cpu = "-" if h.cpu_percent is None else f"{h.cpu_percent:.2f}% of one core"
    host_cpu = "" if h.host_cpu_percent is None else f" ({h.host_cpu_percent:.2f}% of the host)"
    return [
        f"{printable(h.hostname)}  kernel {printable(h.kernel_release)}  {h.cpu_count} CPUs  "
        f"programs {h.programs}  maps {h.maps}  links {h.links}",
        f"eBPF CPU {cpu}{host_cpu}  events/s {number(h.events_per_second)}  "
        f"stats: {printable(h.stats_text)}",
    ]


def filter_rows(rows: list[Row], text: str) -> list[Row]:
    """Rows whose name, type or owner contains `text` (any case)."""
    needle = text.lower()
    if not needle:
        return rows
    return [r for r in rows if needle in f"{r.name}\0{r.type}\0{r.owner}".lower()]


def sort_rows(rows: list[Row], column: int, reverse: bool) -> list[Row]:
    """Rows sorted by a column; unknown rates (`-`) always last, then by id."""
    name = COLUMNS[column]
    if name in _TEXT_COLUMNS:
        attr = _TEXT_COLUMNS[name]
        return sorted(rows, key=lambda r: (getattr(r, attr), r.id), reverse=reverse)
    attr = _NUMBER_COLUMNS[name]
    known = [r for r in rows if getattr(r, attr) is not None]
    unknown = [r for r in rows if getattr(r, attr) is None]
    known.sort(key=lambda r: (getattr(r, attr), -r.id if reverse else r.id), reverse=reverse)
    return known + sorted(unknown, key=lambda r: r.id)


def detail_text(detail: Detail | None, prog_id: int) -> tuple[str, str]:
    """(title, body) of the detail pane."""
    if detail is None:
        return f"program {prog_id}", "reading ..."
    latest_events = next((v for v in reversed(detail.events_history) if v is not None), None)
    latest_cpu = next((v for v in reversed(detail.cpu_history) if v is not None), None)
    title = (
        f"{detail.id} {printable(detail.name)} ({printable(detail.type)})   "
        f"events/s {number(latest_events)}   "
        f"CPU {number(latest_cpu, 2)} %   history {len(detail.events_history)} readings"
    )
    lines = [
        "attached: " + (", ".join(printable(link) for link in detail.links) or "-"),
        "owners:   " + (", ".join(printable(owner) for owner in detail.owners) or "-"),
        "maps:" if detail.maps else "maps:     -",
    ]
    for m in detail.maps:
        entries = "?" if m.entries is None else str(m.entries)
        memlock = "-" if m.memlock_bytes is None else f"{m.memlock_bytes / 1024:,.1f} KiB"
        lines.append(
            f"  {m.id:>6} {printable(m.name):<16} {printable(m.type):<14} "
            f"entries {entries:>7} / {m.max_entries:<7} memlock {memlock}"
        )
    return title, "\n".join(lines)
