"""The `phydev` command (click): `about`, `inspect ...`, `server`, `top`.

- `commands`: the command group and every command, with lean imports (the GraphQL/HTTP stack
  loads only for `server`);
- `quick`: the listings run straight from argv, without click (fast starts);
- `list_commands` (the listings' work), `list_rows` (their rows), `details`, `dump`: what the
  inspect commands print, as text or JSON; `defaults`: defaults shared with the quick path;
- `textfmt`: Go-compatible durations, booleans and tab-separated tables;
- `prefetch`: runs the next kernel batch of a dump on a worker thread;
- `top/`: `phydev top` (its click command is added to the group here).

Public name: main (the console script's entry point, `devagent.cli:main`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def main(*args: Any, **kwargs: Any) -> Any:
    """The console script: the listings of cli.quick when argv is one of them (no click
    imported), else the click command group (cli.commands, with `top`)."""
    if not args and not kwargs:
        from .quick import run

        if run(sys.argv[1:]):
            return None
    from .commands import main as group
    from .top.command import top

    group.add_command(top)
    return group(*args, **kwargs)


__all__ = ["main"]
