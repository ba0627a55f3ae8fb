"""Text from outside (the kernel, /proc, a remote agent) made safe to show.

Any process can name itself `[/]` or `ESC [2J` (prctl PR_SET_NAME), a cgroup or a pin can be
called anything, and an agent can answer any string. Rich would parse the first as markup
(a MarkupError ends the full-screen view) and a terminal would obey the second. So such text
goes to Textual as rich.text.Text, never as a str a widget parses, and its control and
invisible characters are written as Python escapes; very long text is cut.
"""

from __future__ import annotations

from rich.text import Text

LIMIT = 256  # characters of one name or message; an agent may send megabytes
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str, limit: int = LIMIT) -> str:
    """`text` with every non-printable character (controls, ESC, bidi overrides, lone
    surrogates, line breaks) escaped, cut to `limit` characters with a trailing `…`."""
    if len(text) <= limit and text.isprintable():
        return text
    cut = text[:limit]
    shown = "".join(c if c.isprintable() else _escape(c) for c in cut)
    return shown + "…" if len(text) > limit else shown


def shown(text: str) -> Text:
    """A table cell or a label: plain text (no markup), escaped as `printable`."""
    return Text(printable(text), no_wrap=True, end="")
