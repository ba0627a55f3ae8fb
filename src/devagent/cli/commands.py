"""The `phydev` command. Imports stay lean: the GraphQL/HTTP stack loads only for `server`."""

from __future__ import annotations

import os
import sys
from typing import Any, TypeVar

import click

from .. import __version__
from .auth_token import auth_token_options, resolve_auth_token
from .fleet_options import fleet_options, fleet_settings
from .options import (
    OBJECT_ID,
    bpf_dir_option,
    cors_origins_option,
    emit_json,
    group_bpf_dir_option,
    host_root_option,
    json_option,
    kernel_errors,
    limit_options,
    listen_option,
    no_program_iterator_option,
    public_url_origins,
    show_agent_option,
)
from .prog_commands import dump_command, run_command

T = TypeVar("T")

ABOUT = (
    "phydev (dev-agent for Python) lets you debug a host's eBPF programs, maps and links:\n"
    "a CLI, a GraphQL API for the explorer web UI, and a Prometheus exporter."
)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from .output import write_out

        write_out(f"phydev, version {__version__}\n")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def main() -> None:
    """phydev: remote debugging of a Linux host's eBPF subsystem."""


@main.command()
def about() -> None:
    """Say what this tool is."""
    from .output import write_out

    write_out(ABOUT + "\n")


@main.group()
def inspect() -> None:
    """Inspect loaded eBPF objects from the command line."""


@inspect.group()
def progs() -> None:
    """Loaded eBPF programs."""


progs.add_command(dump_command, "dump")
progs.add_command(run_command, "run")


@inspect.group()
@group_bpf_dir_option
def maps(bpf_dir: str | None) -> None:
    """eBPF maps."""


@inspect.group()
@group_bpf_dir_option
def links(bpf_dir: str | None) -> None:
    """eBPF links (program attachments)."""


@progs.command("list")
@json_option
@show_agent_option
@click.option(
    "--attach",
    is_flag=True,
    help="Add an Attach column (JSON: attachPoint and attachments): where each program is "
    "attached, whatever made it: bpf links, netlink XDP and tc filters, cgroup "
    "BPF_PROG_ATTACH, perf events held by processes.",
)
def progs_list(as_json: bool, show_agent: bool, attach: bool) -> None:
    """One line per program: ID Name Type Tag RunCount RunTime AvgRunTime (and Attach with
    --attach). The agent's own iterator programs are left out unless --show-agent."""
    from .list_commands import list_programs

    list_programs(as_json, show_agent, attach)


@maps.command("list")
@bpf_dir_option
@json_option
@show_agent_option
def maps_list(bpf_dir: str, as_json: bool, show_agent: bool) -> None:
    """One line per map: ID Name Type Flags IsPinned KeySize ValueSize MaxEntries. The
    agent's own map is left out unless --show-agent."""
    from .list_commands import list_maps

    list_maps(bpf_dir, as_json, show_agent)


@links.command("list")
@bpf_dir_option
@json_option
@show_agent_option
def links_list(bpf_dir: str, as_json: bool, show_agent: bool) -> None:
    """One line per link: ID Type ProgramID Attach (the per-type attach details). The links
    of the agent's own iterators are left out unless --show-agent."""
    from .list_commands import list_links

    list_links(bpf_dir, as_json, show_agent)


@links.command("show")
@click.argument("link_id", type=OBJECT_ID, metavar="ID")
@bpf_dir_option
@host_root_option
@json_option
def links_show(link_id: int, bpf_dir: str, host_root: str, as_json: bool) -> None:
    """Everything about one link: attach details, cgroup path, program, pins and owners."""
    show_details("link", link_id, bpf_dir, host_root, as_json)


def show_details(kind: str, obj_id: int, bpf_dir: str, host_root: str, as_json: bool) -> None:
    """Print the details of one program, map or link, text or JSON; unknown ids exit 1."""
    from ..model.snapshot import take_snapshot
    from .details import details_text, link_details, map_details, program_details

    builder = {"program": program_details, "map": map_details, "link": link_details}[kind]
    with kernel_errors():
        details = builder(take_snapshot(bpf_dir, host_root=host_root), obj_id)
    if as_json:
        emit_json(details)
    else:
        from .output import write_out

        write_out(details_text(details))


@progs.command("show")
@click.argument("prog_id", type=OBJECT_ID, metavar="ID")
@bpf_dir_option
@host_root_option
@json_option
def progs_show(prog_id: int, bpf_dir: str, host_root: str, as_json: bool) -> None:
    """Everything about one program: kernel info, full name, metadata, maps, links, pins and
    owning processes (with their cgroup, systemd unit, container and pod)."""
    show_details("program", prog_id, bpf_dir, host_root, as_json)


@maps.command("show")
@click.argument("map_id", type=OBJECT_ID, metavar="ID")
@bpf_dir_option
@host_root_option
@json_option
def maps_show(map_id: int, bpf_dir: str, host_root: str, as_json: bool) -> None:
    """Everything about one map: kernel info, flags, BTF ids, programs, pins and owners."""
    show_details("map", map_id, bpf_dir, host_root, as_json)


_ENTRY_FORMATS = click.Choice(["hex", "string", "number", "btf"], case_sensitive=False)


@maps.command("dump")
@click.argument("map_id", type=OBJECT_ID, metavar="ID")
@click.option(
    "--format",
    "fmt",
    type=_ENTRY_FORMATS,
    default=None,
    help="How keys and values are shown (sets both); btf decodes them through the map's BTF "
    "types, as bpftool's 'formatted' output does. Default: btf for each part the map has a "
    "BTF type for, else hex; with --json always hex.",
)
@click.option("--key-format", type=_ENTRY_FORMATS, default=None,
              help="How keys are shown (overrides --format for keys).")  # fmt: skip
@click.option("--value-format", type=_ENTRY_FORMATS, default=None,
              help="How values are shown (overrides --format for values).")  # fmt: skip
@click.option(
    "--sort",
    "sort_by",
    default=None,
    metavar="FIELD|value|sum|key",
    help="Order entries by the whole value as an unsigned number (value), the per-CPU sum "
    "(sum; value means the same on per-CPU maps), a numeric field of the BTF value type "
    "(packets, stats.bytes, counts[2]; per-CPU maps: its sum) or the key (the default). "
    'Per-CPU maps sorted by value get a Total column ("total" in --json).',
)
@click.option("--desc/--asc", "descending", default=None,
              help="Direction: greatest first (the default for --sort by value) or smallest "
              "first (the default for key order).")  # fmt: skip
@click.option("--top", type=click.IntRange(min=0), default=None, metavar="N",
              help="Only the N greatest entries by the --sort order.")  # fmt: skip
@click.option("--key", "key_search", default=None, metavar="TEXT",
              help="Only keys whose text (in the key format) contains TEXT, any case.")  # fmt: skip
@json_option
def maps_dump(
    map_id: int,
    fmt: str | None,
    key_format: str | None,
    value_format: str | None,
    sort_by: str | None,
    descending: bool | None,
    top: int | None,
    key_search: str | None,
    as_json: bool,
) -> None:
    """Every entry of one map. With --json: one array of {"key", "value"} objects, or
    {"key", "values": [{"cpu", "value"}, ...]} for per-CPU maps (bpftool -j map dump shape).
    --sort, --top and --key answer questions such as "the 5 busiest syscalls":
    `phydev inspect maps dump ID --sort sum --top 5`."""
    from .dump import dump_map
    from .output import stdout_buffer, write_out

    view = None
    if sort_by or descending is not None or top is not None or key_search:
        from ..model.entry_order import SORT_KEY, EntryView

        view = EntryView(sort_by or SORT_KEY, descending, top, key_search or None)
    stdout_buffer()  # a closed stdout is refused before the map is read
    with kernel_errors():
        write_out(dump_map(map_id, fmt and fmt.lower(), as_json, key_format=key_format,
                           value_format=value_format, view=view))  # fmt: skip


@inspect.command("features")
@bpf_dir_option
@json_option
def features(bpf_dir: str, as_json: bool) -> None:
    """What this kernel lets the agent do, probed now (as `bpftool feature probe`): each
    feature works, is degraded (and how the agent does without it) or is unavailable (and
    why), with the first kernel version that has it."""
    from .list_commands import list_features

    list_features(bpf_dir, as_json)


def _port(given: int | None) -> int:
    """--port, else env PORT (the Go agent's only way, kept), else 8080."""
    if given is not None:
        return given
    raw = os.environ.get("PORT", "8080")
    try:
        port = int(raw)
    except ValueError:
        raise click.UsageError(f"PORT must be a number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise click.UsageError(f"PORT must be between 1 and 65535, got {port}")
    return port


@main.command()
@bpf_dir_option
@click.option(
    "--path-prefix",
    default="/",
    show_default=True,
    help="URL prefix under which a reverse proxy serves the agent (the page queries PREFIX/query).",
)
@click.option("--skip-welcome", is_flag=True, help="Do not print the start-up banner.")
@click.option(
    "--entries-to-metrics",
    "--etm",
    "etm",
    multiple=True,
    metavar="SPEC",
    help="Export entries of matching maps to /metrics. SPEC is "
    "<id_start>-<id_end>:<name_regexp>:<key_format>; ids may be empty (open range), the regexp "
    "is searched in the map name, key_format is string, number, hex or btf (any case; btf "
    "decodes keys by their BTF type and makes each field of a struct key a key_<field> label). "
    "Repeatable; the first matching rule wins. Example: --etm -:AT_SYSCALLNUM:string",
)
@click.option(
    "--etm-max-entries",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="At most this many entries of one map are exported (first ones in key order).",
)
@click.option(
    "--map-entries-budget",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Read at most N map entries per snapshot to count how full maps are "
    "(devagent_ebpf_map_entries, Map.usedEntries); smallest maps first, arrays are free; "
    "maps past the budget are skipped, not estimated. Default: 250000.",
)
@click.option(
    "--listen",
    default="0.0.0.0",  # noqa: S104 the Go agent's default; the help and banner warn
    show_default=True,
    callback=listen_option,
    help="Address to listen on. The default (all interfaces) matches the Go agent; anyone who "
    "can reach the port can read your eBPF state: prefer 127.0.0.1 or --auth-token-file.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="TCP port to listen on (default: env PORT, else 8080).",
)
@click.option(
    "--allow-writes",
    is_flag=True,
    help="Allow GraphQL mutations (map updates, deletes, pins). Off by default.",
)
@auth_token_options("Require 'Authorization: Bearer TOKEN' on /query and /metrics")
@click.option(
    "--cors-origin",
    multiple=True,
    metavar="ORIGIN",
    callback=cors_origins_option,
    help="Allow cross-origin requests from ORIGIN, scheme://host[:port] (repeatable). None "
    "allowed by default; '*' (every page) only together with --auth-token.",
)
@click.option(
    "--allowed-host",
    multiple=True,
    metavar="NAME",
    help="Also serve requests for this host name (repeatable; '.example.com' allows every "
    "name under it). Served anyway: localhost, IP addresses, the --listen address, this "
    "machine's name and the hosts of --cors-origin; other names are refused (DNS rebinding).",
)
@click.option(
    "--public-url",
    multiple=True,
    metavar="URL",
    help="Where a reverse proxy serves the agent, e.g. https://ops.example/phydev/ "
    "(repeatable; its path must be --path-prefix). Pages from there are the agent's own "
    "(same-origin) whatever Host the proxy sends, and the name is served. No header is trusted.",
)
@click.option(
    "--enable-stats/--no-enable-stats",
    default=None,
    envvar="DEVAGENT_ENABLE_STATS",
    help="Run statistics (run counts and times) through a BPF_ENABLE_STATS fd, without "
    "changing the kernel.bpf_stats_enabled sysctl: --enable-stats holds it while the server "
    "runs, --no-enable-stats never takes it; by default it is held while someone watches "
    "rates (UI, top --agent, GraphQL) and let go --stats-idle seconds after the last look "
    "(env DEVAGENT_ENABLE_STATS=true/false).",
)
@click.option(
    "--stats-idle",
    type=click.FloatRange(min=0.1),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="On demand (neither --enable-stats nor --no-enable-stats): let the stats fd go "
    "when nobody has watched rates for this long.",
)
@no_program_iterator_option
@host_root_option
@fleet_options
@click.option(
    "--metrics-owner-labels",
    is_flag=True,
    help="Export devagent_ebpf_prog_owner_info: one series per program and place where an "
    "owning process runs (comm, cgroup, systemd unit, container, pod), to join with the "
    "per-program metrics on id. Off by default (it walks /proc on every scrape).",
)
@click.option(
    "--watch-idle",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop sampling program counters for rates when nobody has asked for them for this "
    "long; the rate history (5 minutes) is kept across the pause.",
)
@limit_options
def server(
    bpf_dir: str,
    path_prefix: str,
    skip_welcome: bool,
    etm: tuple[str, ...],
    etm_max_entries: int,
    map_entries_budget: int | None,
    listen: str,
    port: int | None,
    allow_writes: bool,
    auth_token: str | None,
    auth_token_file: str | None,
    cors_origin: tuple[str, ...],
    allowed_host: tuple[str, ...],
    public_url: tuple[str, ...],
    enable_stats: bool | None,
    stats_idle: float,
    no_program_iterator: bool,
    host_root: str,
    node_name: str,
    inventory_metrics_limit: int,
    prometheus_url: str | None,
    prometheus_token_file: str | None,
    prometheus_basic_auth_file: str | None,
    node_url_template: str | None,
    fleet_rate_window: str,
    metrics_owner_labels: bool,
    watch_idle: float,
    **limits: Any,
) -> None:
    """Serve GraphQL (/query; GraphiQL at /, the web UI at /ui/) and Prometheus metrics (/metrics).

    The port comes from --port, else env PORT (default 8080).
    """
    import socket

    from ..model.etm import EtmRuleError, parse_rules
    from ..model.settings import DEFAULT_MAP_ENTRIES_BUDGET, Settings
    from ..model.stats_hold import policy_from_flag

    auth_token = resolve_auth_token(auth_token, auth_token_file)
    try:
        rules = parse_rules(etm)
    except EtmRuleError as exc:
        raise click.BadParameter(str(exc), param_hint="--etm") from None
    if "*" in cors_origin and not auth_token:
        raise click.BadParameter(
            "'*' lets every web page call the agent: allowed only together with --auth-token "
            "or --auth-token-file (or name the origins to allow)",
            param_hint="--cors-origin",
        )
    prefix = "/" + path_prefix.strip("/") + "/" if path_prefix.strip("/") else "/"
    public_origins = public_url_origins(public_url, prefix)
    settings = Settings(
        bpf_dir=bpf_dir,
        listen=listen,
        port=_port(port),
        path_prefix=prefix,
        skip_welcome=skip_welcome,
        etm_rules=rules,
        etm_max_entries=etm_max_entries,
        map_entries_budget=(
            DEFAULT_MAP_ENTRIES_BUDGET if map_entries_budget is None else map_entries_budget
        ),
        allow_writes=allow_writes,
        auth_token=auth_token,
        cors_origins=cors_origin,
        allowed_hosts=allowed_host,
        public_origins=public_origins,
        stats_policy=policy_from_flag(enable_stats),
        stats_idle_seconds=stats_idle,
        program_iterator=not no_program_iterator,
        host_root=host_root,
        node_name=node_name or socket.gethostname(),
        inventory_metrics_limit=inventory_metrics_limit,
        **fleet_settings(
            prometheus_url, prometheus_token_file, prometheus_basic_auth_file, fleet_rate_window
        ),
        node_url_template=node_url_template,
        metrics_owner_labels=metrics_owner_labels,
        watch_idle_seconds=watch_idle,
        **limits,
    )
    from ..web.server import ServeError, serve

    with kernel_errors():
        try:
            serve(settings)
        except ServeError as exc:
            click.echo(f"phydev: {exc}", err=True)
            sys.exit(1)
