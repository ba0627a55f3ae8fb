"""Where the bearer token comes from (`phydev server`, `phydev top --agent`).

`--auth-token TOKEN` sits in /proc/PID/cmdline, which every local user can read (`ps -ef`):
user nobody read it there and got 200 from /query. So the token can also come from a file,
`--auth-token-file PATH` (env DEVAGENT_AUTH_TOKEN_FILE), or from env DEVAGENT_AUTH_TOKEN
(/proc/PID/environ is readable by the process's owner only); the command-line form still
works, with one warning line at start.

The file holds the token on one line; one trailing newline (what `echo` and editors add) is
dropped. Refused, with one `phydev: ...` line and exit status 2 (as for usage errors): a file
together with a token given otherwise (which one would win is a guess), a path that cannot be
read, an empty file, a token of several lines, with control characters or with white space at
either end (HTTP drops that from header values, so no client could send it), or a file
longer than MAX_BYTES (not a token file). A file every local user can read or change only gets
a warning, unlike ssh's refusal of such keys: Kubernetes mounts Secrets 0644 unless told
otherwise, and container runtimes their secrets 0444, inside the container only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# Names of environment variables, not secrets.
ENV_TOKEN = "DEVAGENT_AUTH_TOKEN"  # noqa: S105
ENV_TOKEN_FILE = "DEVAGENT_AUTH_TOKEN_FILE"  # noqa: S105
MAX_BYTES = 4096


class TokenError(click.ClickException):
    """A token that cannot be used: one `phydev: ...` line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"phydev: {self.format_message()}", err=True)


def auth_token_options(token_help: str) -> Callable[[F], F]:
    """`--auth-token` (env DEVAGENT_AUTH_TOKEN) and `--auth-token-file` (env
    DEVAGENT_AUTH_TOKEN_FILE); the command passes both to `resolve_auth_token()`."""

    def decorate(func: F) -> F:
        func = click.option(
            "--auth-token-file",
            envvar=ENV_TOKEN_FILE,
            default=None,
            metavar="PATH",
            help="Read the token from this file (one line; env DEVAGENT_AUTH_TOKEN_FILE). "
            "Unlike --auth-token, it stays out of the process list.",
        )(func)
        return click.option(
            "--auth-token",
            envvar=ENV_TOKEN,
            default=None,
            metavar="TOKEN",
            help=f"{token_help} (env {ENV_TOKEN}). On the command line every local user can "
            "read it (ps): prefer --auth-token-file or the env variable.",
        )(func)

    return decorate


def resolve_auth_token(token: str | None, path: str | None) -> str | None:
    """The token in force, from `--auth-token`/env or `--auth-token-file`/env, with the
    warnings and refusals of the module docstring; None when none was given."""
    token_on_command_line = _on_command_line("auth_token")
    if path is not None:
        path_from = "--auth-token-file" if _on_command_line("auth_token_file") else (
            f"env {ENV_TOKEN_FILE}")  # fmt: skip
        if token:
            token_from = "--auth-token" if token_on_command_line else f"env {ENV_TOKEN}"
            raise TokenError(f"{token_from} and {path_from} both give a token: keep one")
        return read_token_file(path, path_from)
    if token and token_on_command_line:
        warn("--auth-token on the command line can be read by every local user (ps, "
             f"/proc/PID/cmdline): use --auth-token-file PATH or env {ENV_TOKEN}")  # fmt: skip
    return token or None


def _on_command_line(param: str) -> bool:
    """Whether the value of `param` was given on the command line (not by env variable)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(param) == ParameterSource.COMMANDLINE


def warn(message: str) -> None:
    """One `phydev: warning: ...` line on stderr: the command goes on."""
    click.echo(f"phydev: warning: {message}", err=True)


def read_token_file(path: str, given_as: str = "--auth-token-file") -> str:
    """The token in the file at `path` (see the module docstring); TokenError says what is
    wrong with it, a warning what is unsafe about it."""
    where = f"{given_as} {path}"
    try:
        with open(path, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise TokenError(f"{where}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise TokenError(f"{where}: longer than {MAX_BYTES} bytes: not a token file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TokenError(f"{where}: not UTF-8 text") from None
    token = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    if not token:
        raise TokenError(f"{where}: empty: write the token in it")
    if "\n" in token or "\r" in token:
        raise TokenError(f"{where}: more than one line: the token is one line")
    if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in token):
        raise TokenError(f"{where}: the token has control characters: no client can send it")
    if token != token.strip(" \t"):  # HTTP's white space (OWS), not Unicode's
        raise TokenError(f"{where}: the token starts or ends with white space, which HTTP "
                         "drops: no client could send it")  # fmt: skip
    others = mode & (stat.S_IROTH | stat.S_IWOTH) if stat.S_ISREG(mode) else 0
    if others:
        can = {stat.S_IROTH: "read", stat.S_IWOTH: "replace"}.get(others, "read and replace")
        warn(f"{where}: every local user can {can} it (mode {stat.S_IMODE(mode):04o}): "
             f"chmod o-rw {path}")  # fmt: skip
    return token
