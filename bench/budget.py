"""The performance budget: what users meet, in numbers, and whether this run holds it.

An optimisation belongs in the code only while a line here needs it (docs/decisions/ says
which line each remaining one serves). The benchmarks record what they measured under a key;
`table()` sets each against its line, and `bench/run` prints it first and exits non-zero
when a line does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    key: str
    what: str
    limit: float
    unit: str
    at_most: bool = True  # False: the measured value must be at least the limit

    def holds(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def fmt(self, value: float) -> str:
        digits = 2 if self.unit == "×" else 1
        return f"{value:.{digits}f} {self.unit}".replace(" ×", "×")


BUDGET = (
    Line(
        "nav_big_p50",
        "UI Navigation poll on a fresh snapshot, 1000 programs + 1000 maps: p50",
        15.0,
        "ms",
    ),
    Line("nav_small_p50", "UI Navigation poll on a fresh snapshot, ~50 objects: p50", 4.0, "ms"),
    Line(
        "metrics_p50",
        "/metrics without --etm on a fresh snapshot, 1000 programs + 1000 maps: p50",
        30.0,
        "ms",
    ),
    Line(
        "cli_ratio",
        "`inspect progs list` (1000 programs), slower of the console script "
        "and ./phydev, against `bpftool prog show`",
        2.5,
        "×",
    ),
    Line("idle_rss", "server RSS idle after start", 40.0, "MiB"),
    Line(
        "fleet_page_p50",
        "fleet page poll through Prometheus, 500 nodes × (50 programs + 50 maps): p50",
        1000.0,
        "ms",
    ),
    Line(
        "clients_8",
        "8 clients polling Navigation (1000 programs + 1000 maps)",
        150.0,
        "requests/s",
        at_most=False,
    ),
)

_measured: dict[str, float] = {}


def record(key: str, value: float) -> None:
    """Keep what a benchmark measured for the budget line `key`."""
    if key not in {line.key for line in BUDGET}:
        raise KeyError(f"no budget line {key!r}")
    _measured[key] = value


def table() -> tuple[list[tuple[str, str]], bool]:
    """Rows 'what (budget)' → 'measured: holds / over', and whether every line held (a line
    that was not measured in this run, e.g. with --only, neither holds nor fails)."""
    rows, ok = [], True
    for line in BUDGET:
        sign = "≤" if line.at_most else "≥"
        what = f"{line.what} ({sign} {line.fmt(line.limit)})"
        value = _measured.get(line.key)
        if value is None:
            rows.append((what, "not measured in this run"))
            continue
        holds = line.holds(value)
        ok = ok and holds
        rows.append((what, f"{line.fmt(value)}: {'holds' if holds else 'OVER BUDGET'}"))
    return rows, ok
