"""The listings without click: `phydev inspect progs|maps|links list [--json] [--show-agent]`
(and `progs list --attach`).

These are the commands scripts run in loops and people run to glance at a host; bpftool
answers them in a few ms. Importing click (and with it typing, inspect, ...) costs more than
the listing itself, so these exact command lines are recognised here, from sys.argv, and
run through the same functions the click commands call (cli.list_commands). Anything else, a
`--help`, a `--bpf_dir` (click checks and warns about it) or a typo, goes to click.
"""

from __future__ import annotations

import os

from .defaults import DEFAULT_BPF_DIR


def run(argv: list[str]) -> bool:
    """Run `argv` if it is one of the listings served here; False to let click do it."""
    if len(argv) < 3 or argv[0] != "inspect" or argv[2] != "list":
        return False
    rest, kind = argv[3:], argv[1]
    flags = (
        ("--json", "--show-agent", "--attach") if kind == "progs" else ("--json", "--show-agent")
    )
    if any(arg not in flags for arg in rest) or len(set(rest)) < len(rest):
        return False
    as_json, show_agent = "--json" in rest, "--show-agent" in rest
    if kind not in ("progs", "maps", "links"):
        return False
    from . import list_commands

    if kind == "progs":
        list_commands.list_programs(as_json, show_agent, "--attach" in rest)
    else:
        bpf_dir = os.environ.get("BPF_DIR") or DEFAULT_BPF_DIR
        listing = list_commands.list_maps if kind == "maps" else list_commands.list_links
        listing(bpf_dir, as_json, show_agent)
    return True
