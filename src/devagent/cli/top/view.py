"""Text of the top screen (no Textual here): columns, cells, header lines, the detail pane,
sorting and filtering. Pure functions of a Frame, so they are tested without a terminal.

Names, owners, attach points and host fields come from the kernel, /proc or a remote agent:
they go out through `plain` (escaped, never parsed as markup)."""

from __future__ import annotations

from rich.text import Text

from .frame import Detail, FleetHeader, Header, Row
from .plain import printable, shown

COLUMNS = ["ID", "Name", "Type", "Attach", "Owner", "Events/s", "Avg ns", "CPU %", "RecMiss/s"]
# Fleet mode (--fleet): programs of every node; the owner is the workload Prometheus knows.
FLEET_COLUMNS = ["Node", "ID", "Name", "Type", "Attach", "Workload", "Events/s", "Avg ns", "CPU %"]
TEXT_COLUMNS = {"Node": "node", "ID": "id", "Name": "name", "Type": "type", "Attach": "attach",
                "Owner": "owner", "Workload": "owner"}  # fmt: skip
_NUMBER_COLUMNS = {
    "Events/s": ("events_per_second", 1),
    "Avg ns": ("avg_run_time_ns", 0),
    "CPU %": ("cpu_percent", 2),
    "RecMiss/s": ("recursion_misses_per_second", 1),
}


def number(value: float | None, digits: int = 1) -> str:
    """A rate for a cell: `-` when unknown, thousands separated."""
    return "-" if value is None else f"{value:,.{digits}f}"


def cell_texts(row: Row, columns: list[str] = COLUMNS) -> list[Text]:
    """The row's cells as Text: a str cell would be parsed as Rich markup by the table."""
    cells = []
    for name in columns:
        if name in TEXT_COLUMNS:
            cells.append(shown(str(getattr(row, TEXT_COLUMNS[name]))))
        else:
            attr, digits = _NUMBER_COLUMNS[name]
            cells.append(shown(number(getattr(row, attr), digits)))
    return cells


def header_lines(h: Header | FleetHeader) -> list[str]:
    if isinstance(h, FleetHeader):
        return fleet_header_lines(h)
    cpu = "-" if h.cpu_percent is None else f"{h.cpu_percent:.2f}% of one core"
    host_cpu = "" if h.host_cpu_percent is None else f" ({h.host_cpu_percent:.2f}% of the host)"
    return [
        f"{printable(h.hostname)}  kernel {printable(h.kernel_release)}  {h.cpu_count} CPUs  "
        f"programs {h.programs}  maps {h.maps}  links {h.links}",
        f"eBPF CPU {cpu}{host_cpu}  events/s {number(h.events_per_second)}  "
        f"stats: {printable(h.stats_text)}",
    ]


def fleet_header_lines(h: FleetHeader) -> list[str]:
    up = sum(n.up for n in h.nodes)
    cores = h.total("cpu_cores")
    cpu = "-" if cores is None else f"{cores * 100:.2f}% of one core"
    unknown = [n.name for n in h.nodes if n.stats_enabled is False]
    stats = f"  no run statistics on {len(unknown)} node(s)" if unknown else ""
    programs, maps = h.total("programs"), h.total("maps")
    return [
        f"fleet via {printable(h.prometheus)}  nodes {len(h.nodes)} ({up} up)  "
        f"programs {number(programs, 0)}  maps {number(maps, 0)}  rates over "
        f"{printable(h.rate_window)}",
        f"eBPF CPU {cpu}  events/s {number(h.total('events_per_second'))}{stats}",
    ]


def filter_rows(rows: list[Row], text: str) -> list[Row]:
    """Rows whose name, type, owner or node contains `text` (any case)."""
    needle = text.lower()
    if not needle:
        return rows
    return [r for r in rows if needle in f"{r.name}\0{r.type}\0{r.owner}\0{r.node}".lower()]


def sort_rows(rows: list[Row], name: str, reverse: bool) -> list[Row]:
    """Rows sorted by the column `name`; unknown rates (`-`) always last, then by id."""
    if name in TEXT_COLUMNS:
        attr = TEXT_COLUMNS[name]
        return sorted(rows, key=lambda r: (getattr(r, attr), r.node, r.id), reverse=reverse)
    attr = _NUMBER_COLUMNS[name][0]
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
