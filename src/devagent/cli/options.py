"""Options, argument types and error handling shared by the `phydev` commands
(commands.py, prog_commands.py, top), with their checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .defaults import DEFAULT_BPF_DIR
from .output import emit_json, fail, kernel_errors

__all__ = [
    "DEFAULT_BPF_DIR", "OBJECT_ID", "bpf_dir_option", "cors_origins_option", "emit_json", "fail",
    "group_bpf_dir_option", "host_root_option", "json_option", "kernel_errors", "limit_options",
    "listen_option", "no_program_iterator_option", "show_agent_option",
]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])

# Kernel object ids are u32: a larger number would be cut to 32 bits by the syscall and name
# another object, so it is a usage error.
OBJECT_ID = click.IntRange(0, 0xFFFFFFFF)


def _bpf_dir(ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    """The --bpf_dir in force: given after the command, or after its group (`inspect maps
    --bpf_dir DIR list`, where the Go agent took it), or env BPF_DIR, or the default. A
    directory given on the command line that cannot hold pins gets a warning (stderr)."""
    from click.core import ParameterSource

    given = ctx.get_parameter_source("bpf_dir") == ParameterSource.COMMANDLINE
    parent = ctx.parent
    if (
        not given
        and parent is not None
        and parent.params.get("bpf_dir")
        and parent.get_parameter_source("bpf_dir") == ParameterSource.COMMANDLINE
    ):
        return str(parent.params["bpf_dir"])
    if value is None:
        return DEFAULT_BPF_DIR
    if given and ctx.command.name != "server":  # the server warns at start, for any value
        from ..bpf.pins import bpffs_problem

        problem = bpffs_problem(value)
        if problem is not None:
            click.echo(f"phydev: warning: --bpf_dir {problem}: no pins will be found", err=True)
    return value


def bpf_dir_option(func: F) -> F:
    return click.option(
        "--bpf_dir",
        "--bpf-dir",
        "bpf_dir",
        envvar="BPF_DIR",
        default=None,
        callback=_bpf_dir,
        help="bpffs directory searched for pinned objects "
        f"(env BPF_DIR; default {DEFAULT_BPF_DIR}).",
    )(func)


def group_bpf_dir_option(func: F) -> F:
    """--bpf_dir before the subcommand, as the Go agent took it: `inspect maps --bpf_dir DIR
    list`. The subcommand reads it (see _bpf_dir)."""
    return click.option(
        "--bpf_dir",
        "--bpf-dir",
        "bpf_dir",
        default=None,
        help="bpffs directory searched for pinned objects (also accepted after the command).",
    )(func)


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON array instead of a table."
    )(func)


def listen_option(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """--listen, checked (web.server.parse_listen): empty or malformed is a usage error."""
    from ..web.server import parse_listen

    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def cors_origins_option(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """--cors-origin values, normalised as browsers send Origin (web.security)."""
    from ..web.security import normalise_origin

    try:
        return tuple(dict.fromkeys(normalise_origin(v) for v in values))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def public_url_origins(urls: tuple[str, ...], path_prefix: str) -> tuple[str, ...]:
    """The origins of --public-url values, each checked against --path-prefix."""
    from ..web.security import public_url_origin

    try:
        return tuple(dict.fromkeys(public_url_origin(u, path_prefix) for u in urls))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-url") from None


# Bounds on what clients may cost the server (Settings fields of the same names).
_LIMITS = (
    ("--max-query-cost", "max_query_cost", click.IntRange(min=1), "N",
     "A GraphQL operation may produce at most about N values, estimated before it runs from "
     "its fields, the numbers of programs and maps and the `limit` of entries."),
    ("--query-timeout", "query_timeout", click.FloatRange(min=0, min_open=True), "SECONDS",
     "A GraphQL operation still running after this long is stopped with an error."),
    ("--header-timeout", "header_timeout", click.FloatRange(min=0, min_open=True), "SECONDS",
     "A client must send a request's line and headers within this time, or is disconnected."),
    ("--body-timeout", "body_timeout", click.FloatRange(min=0, min_open=True), "SECONDS",
     "A client must send a request's body within this time, or is disconnected."),
    ("--max-connections", "max_connections", click.IntRange(min=1), "N",
     "At most N connections at once: past it, an idle or slow connection is closed for the "
     "new one, or the new one is refused with 503."),
)  # fmt: skip


def limit_options(func: F) -> F:
    """The server's --max-query-cost, --query-timeout, --header-timeout, --body-timeout and
    --max-connections, with Settings' defaults."""
    from ..model.settings import Settings

    defaults = Settings()
    for flag, name, kind, metavar, text in reversed(_LIMITS):
        func = click.option(
            flag, name, type=kind, metavar=metavar, default=getattr(defaults, name),
            show_default=True, help=text,
        )(func)  # fmt: skip
    return func


def no_program_iterator_option(func: F) -> F:
    """`--no-program-iterator` (server, top): no agent iterators, bpf() walks only."""
    return click.option(
        "--no-program-iterator",
        is_flag=True,
        help="Walk programs and maps with bpf() calls only (four per program) instead of "
        "loading the agent's two iterator programs (phydev_walk, phydev_maps), which read "
        "every program's run counters and every map's id in one pass each.",
    )(func)


SHOW_AGENT_HELP = (
    "Also show the agent's own objects, hidden by default: the iterator programs "
    "(phydev_walk, phydev_maps), their links and map (phydev_cpus) that a phydev server or "
    "`phydev top` on this host loads to read the kernel."
)


def show_agent_option(func: F) -> F:
    """`--show-agent` (listings, top): the agent's own objects are hidden without it."""
    return click.option("--show-agent", is_flag=True, help=SHOW_AGENT_HELP)(func)


def host_root_option(func: F) -> F:
    return click.option(
        "--host-root",
        envvar="DEVAGENT_HOST_ROOT",
        default="/",
        show_default=True,
        type=click.Path(exists=True, file_okay=False),
        help="Where the host's root directory is (env DEVAGENT_HOST_ROOT): container "
        "runtimes' state is read under it to name the Kubernetes pods of owning processes. "
        "Set it when the agent runs in a container with the host's / mounted elsewhere.",
    )(func)
