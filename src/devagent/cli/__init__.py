"""The `phydev` command (click): `about`, `inspect ...`, `server`, `top`.

- `commands`: the command group and every command, with lean imports (the GraphQL/HTTP stack
  loads only for `server`);
- `listing`, `details`, `dump`: what the inspect commands print, as text or JSON;
- `textfmt`: Go-compatible durations, booleans and tab-separated tables;
- `prefetch`: runs the next kernel batch of a dump on a worker thread;
- `top/`: `phydev top` (its click command is added to the group here).

Public name: main (the console script's entry point, `devagent.cli:main`).
"""

from .commands import main
from .top.command import top

main.add_command(top)

__all__ = ["main"]
