"""Settings: one immutable dataclass built by the CLI and passed down (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Map entries read per snapshot to count how full maps are (model.map_fill): ~0.05-0.1 s of
# kernel copying on the development VM. Arrays are free and not counted against it.
DEFAULT_MAP_ENTRIES_BUDGET = 250_000


@dataclass(frozen=True)
class Settings:
    """Everything `phydev server` was told; consumers read it, nobody changes it."""

    bpf_dir: str = "/sys/fs/bpf"
    listen: str = "0.0.0.0"  # noqa: S104 the Go agent's default (--listen); the banner warns
    port: int = 8080
    path_prefix: str = "/"
    skip_welcome: bool = False
    # Parsed --etm rules (devagent.model.etm.EtmRule), in command-line order.
    etm_rules: tuple[Any, ...] = ()
    etm_max_entries: int = 10_000
    map_entries_budget: int = DEFAULT_MAP_ENTRIES_BUDGET
    allow_writes: bool = False
    auth_token: str | None = None
    cors_origins: tuple[str, ...] = ()  # normalised: scheme://host[:port], or "*"
    # Host names served besides loopback names, IP addresses, the listen address, this
    # machine's name and the hosts of cors_origins (a leading dot: every name under it).
    allowed_hosts: tuple[str, ...] = ()
    # Origins (scheme://host[:port]) a reverse proxy serves the agent at (--public-url): pages
    # from them count as same-origin whatever Host the proxy sends, and their hosts are served.
    public_origins: tuple[str, ...] = ()
    # BPF_ENABLE_STATS (model.stats_hold): ON_DEMAND (held while someone watches, let go
    # `stats_idle_seconds` after the last look; the CLI's default), ALWAYS (--enable-stats)
    # or NEVER. NEVER here: an app made in-process (tests, embedding) turns on nothing
    # process-wide unless told to.
    stats_policy: str = "NEVER"
    stats_idle_seconds: float = 300.0
    # Load the agent's program iterator (bpf.iter.programs): every program's run counters in one
    # read() instead of four bpf() calls per program.
    program_iterator: bool = True
    cache_max_age: float = 1.0
    max_query_depth: int = 12
    max_entries_limit: int = 10_000
    max_request_bytes: int = 1 << 20
    # Live view (model.sampler): readings every `sample_interval` s while someone asked for
    # rates or history within the last `watch_idle_seconds` s; `history_seconds` kept.
    sample_interval: float = 1.0
    watch_idle_seconds: float = 60.0
    history_seconds: int = 300
    # Where the host's root is (container runtimes' state is read under it); "/" unless the
    # agent runs in a container with the host's root mounted elsewhere.
    host_root: str = "/"
    # The node this agent runs on, in the inventory metrics' `node` label (--node-name; the
    # CLI defaults it to the host name), and at most how many objects of each kind they list.
    node_name: str = ""
    inventory_metrics_limit: int = 5000
    # The fleet views (model.fleet): a Prometheus-compatible query API (--prometheus), its
    # credentials (a bearer token, or basic auth as (user, password)), the rate() window, and
    # how to link a node's agent (--node-url-template: {node} and {instance} replaced).
    prometheus_url: str | None = None
    prometheus_token: str | None = None
    prometheus_basic: tuple[str, str] | None = None
    fleet_rate_window: str = "2m"
    node_url_template: str | None = None
    # Export devagent_ebpf_prog_owner_info: where each program's owning processes run.
    metrics_owner_labels: bool = False
    # What one GraphQL request may cost (api.limits, runtime.budget): values in the answer as
    # estimated before it runs, seconds while it runs, bytes of the answer.
    max_query_cost: int = 200_000
    query_timeout: float = 10.0
    max_answer_bytes: int = 16 << 20
    # Slow or too many clients (web.connections): seconds to send the request head and the
    # body, and how many connections are open at once.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 256
    extra: dict[str, Any] = field(default_factory=dict)
