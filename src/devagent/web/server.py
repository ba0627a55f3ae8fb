"""Running the app: uvicorn on the configured address, the start-up banner, clean exits."""

from __future__ import annotations

import signal
import sys

from .. import __version__
from ..model.settings import Settings
from .app import create_app


def banner(settings: Settings) -> str:
    """The start-up text: where to go, and what is (not) protected."""
    host = "localhost" if settings.listen in ("0.0.0.0", "::") else settings.listen
    base = f"http://{host}:{settings.port}{settings.path_prefix}"
    lines = [
        f"phydev {__version__}: dev-agent for Python",
        f"  GraphiQL            {base}",
        f"  web UI              {base}ui/",
        f"  GraphQL endpoint    {base}query",
        f"  Prometheus metrics  {base}metrics",
        f"  writes              {'ENABLED' if settings.allow_writes else 'disabled'}",
        f"  auth token          {'required' if settings.auth_token else 'none'}",
    ]
    if settings.listen in ("0.0.0.0", "::") and not settings.auth_token:
        lines.append(
            "  warning: listening on all interfaces without --auth-token: anyone who can "
            "reach this port can read your eBPF state"
        )
    return "\n".join(lines)


def _note_signal(signum: int, _frame: object) -> None:
    """Stand-in handler while uvicorn runs (it installs and removes its own)."""


def serve(settings: Settings) -> None:
    """Run the server until SIGINT/SIGTERM (uvicorn handles both and drains requests)."""
    import uvicorn

    from ..bpf.stats import enable_stats
    from ..model.memory import tune_allocator

    tune_allocator()
    app = create_app(settings)
    stats_fd = enable_stats() if settings.enable_stats else None
    host = f"[{settings.listen}]" if ":" in settings.listen else settings.listen
    print(f"phydev: serving on http://{host}:{settings.port}{settings.path_prefix}", flush=True)
    if not settings.skip_welcome:
        print(banner(settings), flush=True)
    config = uvicorn.Config(
        app,
        host=settings.listen,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn drains requests on SIGINT/SIGTERM, restores the previous handlers and re-raises
    # the signal; with these no-op handlers as "previous", the re-raise is absorbed, the stats
    # fd is released below and the exit status is 0.
    previous = {sig: signal.signal(sig, _note_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.state.sampler.stop()
        if stats_fd is not None:
            stats_fd.close()
    if not server.started:
        sys.exit(1)
