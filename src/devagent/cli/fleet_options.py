"""`phydev server`'s fleet options (--prometheus and its credentials), checked before the
server starts: a typo should stop the start with the reason, not show up later as every fleet
page's error."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

_WINDOW = re.compile(r"^[0-9]+(ms|s|m|h|d)$")
F = TypeVar("F", bound=Callable[..., Any])


def fleet_options(command: F) -> F:
    """--node-name, --inventory-metrics-limit, --prometheus, its credentials,
    --node-url-template and --fleet-rate-window."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


_OPTIONS = [
    click.option(
        "--node-name",
        envvar=["DEVAGENT_NODE_NAME", "NODE_NAME"],
        default="",
        show_default="the host name",
        help="The node's name in the inventory metrics' node label (devagent_agent_info, "
        "devagent_ebpf_program_info, ..._map_info, ..._link_info). The DaemonSet sets it from "
        "spec.nodeName (env NODE_NAME). Env: DEVAGENT_NODE_NAME, else NODE_NAME.",
    ),
    click.option(
        "--inventory-metrics-limit",
        type=click.IntRange(min=0),
        default=5000,
        show_default=True,
        help="At most this many programs, maps and links (each) in the inventory info metrics, "
        "lowest ids first; devagent_ebpf_inventory_truncated{kind} counts the rest. 0 leaves "
        "them out.",
    ),
    click.option(
        "--prometheus",
        "prometheus_url",
        envvar="DEVAGENT_PROMETHEUS_URL",
        metavar="URL",
        help="A Prometheus-compatible query API (Prometheus, Thanos, Mimir, VictoriaMetrics) that "
        "scrapes every node's agent: the fleet pages (/ui/fleet) and Query.fleet ask it. "
        "Env: DEVAGENT_PROMETHEUS_URL.",
    ),
    click.option(
        "--prometheus-token-file",
        type=click.Path(dir_okay=False),
        help="A file holding a bearer token for --prometheus.",
    ),
    click.option(
        "--prometheus-basic-auth-file",
        type=click.Path(dir_okay=False),
        help="A file holding USER:PASSWORD for --prometheus (basic auth).",
    ),
    click.option(
        "--node-url-template",
        metavar="TEMPLATE",
        help="How the fleet pages link a node's agent: {node} and {instance} are replaced, e.g. "
        "https://K8S/api/v1/namespaces/phydev/pods/http:phydev-{node}:8080/proxy/ui/ or "
        "http://{instance}/ui/.",
    ),
    click.option(
        "--fleet-rate-window",
        default="2m",
        show_default=True,
        help="The range of rate() in fleet queries: at least two scrape intervals.",
    ),
]


def _read_secret(path: str, option: str) -> str:
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=option) from None
    if not text:
        raise click.BadParameter(f"{path} is empty", param_hint=option)
    return text


def fleet_settings(
    url: str | None, token_file: str | None, basic_file: str | None, window: str
) -> dict[str, Any]:
    """The Settings fields of the fleet options, or click.BadParameter naming the problem."""
    if not _WINDOW.match(window):
        raise click.BadParameter(
            f"{window!r} is not a Prometheus duration (e.g. 2m, 90s)",
            param_hint="--fleet-rate-window",
        )
    if url is None:
        if token_file or basic_file:
            raise click.BadParameter("needs --prometheus", param_hint="--prometheus-token-file")
        return {"fleet_rate_window": window}
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{url!r} is not an http(s) URL (e.g. http://prometheus:9090)",
            param_hint="--prometheus",
        )
    token = _read_secret(token_file, "--prometheus-token-file") if token_file else None
    basic = None
    if basic_file:
        user, sep, password = _read_secret(basic_file, "--prometheus-basic-auth-file").partition(
            ":"
        )
        if not sep or not user:
            raise click.BadParameter(
                f"{basic_file} must hold USER:PASSWORD", param_hint="--prometheus-basic-auth-file"
            )
        basic = (user, password)
    if token and basic:
        raise click.BadParameter(
            "give a token or basic auth, not both", param_hint="--prometheus-basic-auth-file"
        )
    return {
        "prometheus_url": url.rstrip("/"),
        "prometheus_token": token,
        "prometheus_basic": basic,
        "fleet_rate_window": window,
    }
