"""The `phydev top` click command (added to the main group by devagent.cli). Imports
nothing heavy: the sources and Textual load only when the command runs."""

from __future__ import annotations

import sys

import click

from ..auth_token import auth_token_options, resolve_auth_token
from ..options import bpf_dir_option, kernel_errors, no_program_iterator_option, show_agent_option


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds between refreshes: 1 by default, 5 with --fleet (Prometheus' rates change "
    "once per scrape).",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N refreshes.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per interval (JSON Lines) instead of the full screen; "
    "the default when stdout is not a terminal.",
)
@click.option(
    "--no-enable-stats",
    is_flag=True,
    help="Do not hold a BPF_ENABLE_STATS fd: unless the kernel already collects run "
    "statistics, rates show '-'.",
)
@no_program_iterator_option
@click.option(
    "--agent",
    metavar="URL",
    default=None,
    help="Show a remote agent through its GraphQL API instead of this host: HOST:PORT, "
    "its URL (http://HOST:8080/), its web UI's (.../ui/) or its /query endpoint.",
)
@click.option(
    "--agent-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="With --agent: give up on a refresh whose answer is not complete after SECONDS "
    "(the whole request, however slowly the bytes come).",
)
@click.option(
    "--max-answer-bytes",
    type=click.IntRange(min=1),
    default=64 << 20,
    show_default=True,
    metavar="N",
    help="With --agent: refuse an answer longer than N bytes (64 MiB by default).",
)
@click.option(
    "--fleet",
    is_flag=True,
    help="With --agent: the programs of every node, ranked across the fleet by CPU and "
    "events/s, through that agent's Prometheus (it must run with --prometheus).",
)
@auth_token_options("Token for --agent")
@show_agent_option
@bpf_dir_option
def top(
    interval: float | None,
    count: int | None,
    as_json: bool,
    no_enable_stats: bool,
    no_program_iterator: bool,
    agent: str | None,
    agent_timeout: float,
    max_answer_bytes: int,
    fleet: bool,
    auth_token: str | None,
    auth_token_file: str | None,
    show_agent: bool,
    bpf_dir: str,
) -> None:
    """Live view: which eBPF programs run how often and what CPU they cost, right now.

    One row per program (events/s, average ns per run, CPU % of one core, recursion
    misses/s), a header with the host's totals, and a detail pane with sparklines, links,
    owners and maps. Keys: 1-9 or click a header to sort, / filter, a show or hide the
    agent's own programs (hidden unless --show-agent), p pause, Enter details, ? every
    key, q quit. With --agent URL --fleet: the programs of every node the agent's
    Prometheus scrapes, with their node, and the fleet's totals.
    Unless the kernel.bpf_stats_enabled sysctl is on, top holds a BPF_ENABLE_STATS fd while
    it runs (the sysctl is never changed).
    """
    from .frame import SourceError
    from .run import make_source, run_top

    if fleet and not agent:
        raise click.UsageError(
            "--fleet needs --agent URL: the fleet is asked of an agent started with "
            "--prometheus (phydev top --agent http://HOST:8080 --fleet)"
        )
    if interval is None:
        from .fleet import INTERVAL

        interval = INTERVAL if fleet else 1.0
    auth_token = resolve_auth_token(auth_token, auth_token_file)
    with kernel_errors():
        try:
            source = make_source(
                agent, auth_token, bpf_dir, interval, not no_enable_stats, not no_program_iterator,
                agent_timeout=agent_timeout, max_answer_bytes=max_answer_bytes, fleet=fleet,
            )  # fmt: skip
            run_top(source, interval, count, as_json, show_agent)
        except SourceError as exc:
            click.echo(f"phydev top: {exc}", err=True)
            sys.exit(1)
