"""Human-facing text formats shared by the CLI listings (Go-compatible where the contract says)."""

from __future__ import annotations


def _frac(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    tail = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def go_duration(ns: int) -> str:
    """Format nanoseconds exactly as Go's time.Duration.String() does (`0s`, `21.86µs`,
    `3.2ms`, `1.5s`, `1h2m3s`): the Go agent printed RunTime columns this way."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000:
        text = f"{u}ns"
    elif u < 1_000_000:
        text = _frac(u, 3) + "µs"
    elif u < 1_000_000_000:
        text = _frac(u, 6) + "ms"
    else:
        secs, frac = divmod(u, 1_000_000_000)
        hours, rem = divmod(secs, 3600)
        minutes, seconds = divmod(rem, 60)
        text = _frac(seconds * 1_000_000_000 + frac, 9) + "s"
        if hours:
            text = f"{hours}h{minutes}m{text}"
        elif minutes:
            text = f"{minutes}m{text}"
    return sign + text


def go_bool(value: bool) -> str:
    """Booleans as Go prints them."""
    return "true" if value else "false"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Tab-separated lines, header first (what the Go agent's tabwriter-less output was)."""
    lines = ["\t".join(header)]
    lines.extend("\t".join(row) for row in rows)
    return "\n".join(lines) + "\n"
