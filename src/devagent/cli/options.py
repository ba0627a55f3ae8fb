"""Options and error handling shared by the `phydev` commands (commands.py, prog_commands.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

from ..bpf.errors import PRIVILEGE_HINT, BPFError, PermissionDenied

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def kernel_errors() -> Iterator[None]:
    """Turn kernel failures into one clear line and a non-zero exit, never a traceback."""
    try:
        yield
    except PermissionDenied:
        click.echo(f"phydev: not allowed to read eBPF objects: {PRIVILEGE_HINT}", err=True)
        sys.exit(1)
    except BPFError as exc:
        click.echo(f"phydev: {exc}", err=True)
        sys.exit(1)


def fail(message: str) -> NoReturn:
    """One `phydev: ...` line on stderr and exit status 1, as for kernel errors."""
    click.echo(f"phydev: {message}", err=True)
    sys.exit(1)


def bpf_dir_option(func: F) -> F:
    return click.option(
        "--bpf_dir",
        "--bpf-dir",
        "bpf_dir",
        envvar="BPF_DIR",
        default="/sys/fs/bpf",
        show_default=True,
        help="bpffs directory searched for pinned objects (env BPF_DIR).",
    )(func)


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


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON array instead of a table."
    )(func)


def emit_json(value: object) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(value) + b"\n")
