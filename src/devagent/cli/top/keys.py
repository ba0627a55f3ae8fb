"""Every key of the full-screen `phydev top`, in one table: the `?` help screen shows it and
the app's bindings are checked against it (a key added without a line here fails a test),
so what the help says is what the keys do. Plain data: no Textual import."""

from __future__ import annotations

from .view import COLUMNS

# (keys as shown, the Textual key names they stand for, what they do)
KEYS: list[tuple[str, tuple[str, ...], str]] = [
    (
        f"1-{len(COLUMNS)}",
        tuple(str(n) for n in range(1, len(COLUMNS) + 1)),
        "sort by that column (again: reverse), as a click on its header does",
    ),
    ("s", ("s",), "sort by the next column"),
    ("r", ("r",), "reverse the sort"),
    ("/", ("slash",), "filter by name, type or owner (Enter keeps it, Esc clears it)"),
    ("a", ("a",), "show or hide the agent's own programs (its iterators)"),
    ("p", ("p",), "pause or resume refreshing"),
    ("Enter", ("enter",), "details of the highlighted program (or click a row)"),
    ("arrows, PgUp/PgDn", (), "move in the table"),
    ("Esc", ("escape",), "close the filter, the details or this help"),
    ("?", ("question_mark",), "this help"),
    ("q, Ctrl+C", ("q", "ctrl+c"), "quit"),
]


def help_text() -> str:
    """The help screen's text: one line per key."""
    width = max(len(k) for k, _, _ in KEYS)
    lines = ["phydev top: keys", ""]
    lines += [f"  {k.ljust(width)}  {what}" for k, _, what in KEYS]
    columns = ", ".join(f"{n} {c}" for n, c in enumerate(COLUMNS, 1))
    lines.insert(3, f"  {''.ljust(width)}  ({columns})")
    lines += ["", "Esc, q or ? closes this help."]
    return "\n".join(lines)
