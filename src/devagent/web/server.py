"""Running the app: uvicorn on the configured address, the start-up banner, clean exits.

Before anything is printed the server checks that it can read eBPF objects (without the
privileges it would start and answer every request with an error) and binds its socket (a
port in use or an address that does not resolve is the only thing said, not a "serving on"
followed by the error).
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import sys
from types import FrameType

from .. import __version__
from ..bpf.features import Feature
from ..model.settings import Settings
from .app import create_app
from .connections import protocol_class
from .security import SingleHeaders


class ServeError(Exception):
    """The server cannot start; the message says why (one line for the operator)."""


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def parse_listen(text: str) -> str:
    """The address to listen on from `--listen`: an IP address (IPv6 with or without
    brackets) or a host name. Empty or malformed text raises ValueError naming the problem:
    an empty value would make the server bind every interface without saying so."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if not value:
        raise ValueError(
            "must not be empty: give an address, e.g. 127.0.0.1, or 0.0.0.0 for all interfaces"
        )
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    numeric = value.replace(".", "").isdigit()
    if numeric or len(value) > 253 or _HOSTNAME.fullmatch(value) is None:
        raise ValueError(f"{text!r} is neither an IP address nor a host name")
    return value


def bind_socket(settings: Settings) -> socket.socket:
    """A listening TCP socket on --listen and PORT; ServeError says why it cannot be had."""
    where = f"{settings.listen}:{settings.port}"
    try:
        infos = socket.getaddrinfo(
            settings.listen, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {where}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def check_privileges() -> None:
    """Fail now (PermissionDenied, which the CLI turns into its one `run as root` line) when
    the kernel will not let us list eBPF objects."""
    from ..bpf.handles import iter_map_ids

    next(iter_map_ids(), None)


def warn_about_bpf_dir(settings: Settings) -> None:
    """Say once, at start, when --bpf_dir cannot hold pins (missing, not a bpffs, or the
    bpffs is not mounted): everything would silently show as not pinned."""
    from ..bpf.pins import bpffs_problem

    problem = bpffs_problem(settings.bpf_dir)
    if problem is not None:
        print(
            f"phydev: warning: --bpf_dir {problem}: no pins will be found and pinMap "
            "cannot pin there",
            file=sys.stderr,
            flush=True,
        )


STATS_POLICY_WORDS = {
    "ON_DEMAND": "on while someone watches (--enable-stats: always, --no-enable-stats: never)",
    "ALWAYS": "always on (--enable-stats)",
    "NEVER": "never turned on by this agent (--no-enable-stats)",
}


def banner(settings: Settings) -> str:
    """The start-up text: where to go, and what is (not) protected."""
    host = "localhost" if settings.listen in ("0.0.0.0", "::") else settings.listen  # noqa: S104 a test, not a bind
    base = f"http://{host}:{settings.port}{settings.path_prefix}"
    lines = [
        f"phydev {__version__}: dev-agent for Python",
        f"  GraphiQL            {base}",
        f"  web UI              {base}ui/",
        f"  GraphQL endpoint    {base}query",
        f"  Prometheus metrics  {base}metrics",
        f"  writes              {'ENABLED' if settings.allow_writes else 'disabled'}",
        f"  auth token          {'required' if settings.auth_token else 'none'}",
        f"  run statistics      {STATS_POLICY_WORDS.get(settings.stats_policy, '?')}",
    ]
    lines += [f"  public URL          {o}{settings.path_prefix}" for o in settings.public_origins]
    if settings.listen in ("0.0.0.0", "::") and not settings.auth_token:  # noqa: S104 a test, not a bind
        lines.append(
            "  warning: listening on all interfaces without a token (--auth-token-file): "
            "anyone who can reach this port can read your eBPF state"
        )
    return "\n".join(lines)


def _note_signal(signum: int, _frame: object) -> None:
    """Stand-in handler while uvicorn runs (it installs and removes its own)."""


# File descriptors kept for what is not a connection: bpf objects being read, /proc, logs.
SPARE_FDS = 64


def fit_connections(settings: Settings) -> Settings:
    """Settings whose --max-connections fits the fd limit: raise the soft limit as far as the
    hard one allows, else lower the cap (with a warning). Running out of fds would make
    accept() fail for everyone, the cap's 503 included."""
    import dataclasses
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = settings.max_connections + SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < need:
        wanted = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
        if soft < need:
            fitted = max(1, soft - SPARE_FDS)
            print(f"phydev: warning: the fd limit is {soft}: serving at most {fitted} "
                  "connections at once", file=sys.stderr, flush=True)  # fmt: skip
            return dataclasses.replace(settings, max_connections=fitted)
    return settings


def _say_walk_problem(problem: str) -> None:
    print(f"phydev: {problem}", flush=True)


def say_kernel_features(features: list[Feature]) -> None:
    """One line at start naming what this kernel does not let the agent do (each row of
    `phydev inspect features`, Query.host.features and devagent_ebpf_feature_info says how
    the agent does without it or why it cannot)."""
    lacking = [f"{f.name} ({f.status})" for f in features if not f.ok]
    if lacking:
        print(f"phydev: kernel {os.uname().release}: not everything works here: "
              f"{', '.join(lacking)} (phydev inspect features says why)", flush=True)  # fmt: skip


def serve(settings: Settings) -> None:
    """Run the server until SIGINT/SIGTERM (uvicorn handles both and drains requests)."""
    import uvicorn

    from ..runtime.memory import freeze_long_lived, tune_allocator

    tune_allocator()
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            # Started with the stream closed (`>&-`): print nowhere rather than fail, since
            # uvicorn's logging setup cannot handle a missing stream.
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 (lives as long as we do)
    check_privileges()
    sock = bind_socket(settings)
    warn_about_bpf_dir(settings)
    settings = fit_connections(settings)
    app = create_app(settings)
    stats_hold = app.state.sampler.stats_hold
    stats_problem = stats_hold.start()  # --enable-stats: from now on; on demand: when watched
    if stats_problem is not None:
        print(f"phydev: warning: --enable-stats: {stats_problem}", file=sys.stderr, flush=True)
    host = f"[{settings.listen}]" if ":" in settings.listen else settings.listen
    print(f"phydev: serving on http://{host}:{settings.port}{settings.path_prefix}", flush=True)
    if not settings.skip_welcome:
        print(banner(settings), flush=True)
    config = uvicorn.Config(
        SingleHeaders(app),
        host=settings.listen,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=10,
        http=protocol_class(settings),
        # uvloop (libuv, in C) where it is installed (Linux): a request's trips through the
        # loop, to the worker thread and back, cost ~0.3 ms less than on asyncio's own loop.
        loop="auto",
    )
    services = app.state.services

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn waits for running requests before it exits: make the GraphQL ones stop
            # now (a costly query would hold SIGTERM for as long as it runs).
            services.cancel_all("the server is shutting down")
            super().handle_exit(sig, frame)

    server = Server(config)
    config.load()  # uvicorn's protocol modules, before the freeze below
    if settings.program_iterator:
        from ..bpf.iter.walkers import walkers

        walkers.start(on_problem=_say_walk_problem)
    say_kernel_features(app.state.inventory.features())
    # What exists now (modules, the schema, the app) lives as long as the process: frozen
    # out of the collector's sight, a full collection walks only what requests made. Without
    # this, Navigation over 1000 programs + 1000 maps met 50-70 ms collection pauses (p99);
    # with it the slowest of 40 was 13 ms (docs/PERFORMANCE.md).
    freeze_long_lived()
    # uvicorn drains requests on SIGINT/SIGTERM, restores the previous handlers and re-raises
    # the signal; with these no-op handlers as "previous", the re-raise is absorbed, the stats
    # fd is released below and the exit status is 0.
    previous = {sig: signal.signal(sig, _note_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.state.sampler.stop()
        stats_hold.close()
    if not server.started:
        sys.exit(1)
