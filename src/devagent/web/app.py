"""Wiring: one Starlette app serving GraphiQL (/), the web UI (/ui/...) and its static files,
GraphQL, metrics and the probes (/healthz, /readyz). No logic here."""

from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..model.health import kernel_unreadable_reason
from ..model.history import History
from ..model.inventory import Inventory
from ..model.sampler import WatchedSampler
from ..model.settings import Settings
from ..model.stats_hold import StatsHold
from ..model.stats_mode import StatsProbe
from ..runtime.memory import IdleTrimmer, freeze_long_lived
from .pages import graphiql_page, page_headers, ui_page
from .security import Guard
from .static_files import StaticFiles

if TYPE_CHECKING:
    from ..api.http import GraphQLEndpoint
    from ..metrics import MetricsExporter


class Services:
    """The GraphQL endpoint and the metrics exporter, each made on first use.

    graphql-core and Ariadne alone add ~20 MiB to the process, prometheus_client several
    more: an agent only scraped never loads GraphQL, one only queried never loads the
    exporter, and an agent nobody asks anything stays small. Making one takes ~0.1-0.2 s
    (the schema is built): it happens in a worker thread, never on the event loop.
    """

    def __init__(self, settings: Settings, inventory: Inventory, sampler: WatchedSampler) -> None:
        self.settings = settings
        self.inventory = inventory
        self.sampler = sampler
        self._lock = threading.Lock()
        self._graphql: GraphQLEndpoint | None = None
        self._exporter: MetricsExporter | None = None

    @property
    def graphql(self) -> GraphQLEndpoint:
        with self._lock:
            if self._graphql is None:
                from ..api import build_schema
                from ..api.entries import EntryPager
                from ..api.http import GraphQLEndpoint

                self._graphql = GraphQLEndpoint(
                    build_schema(),
                    self.settings,
                    self.inventory,
                    EntryPager(self.inventory),
                    sampler=self.sampler,
                )
                freeze_long_lived()  # graphql-core's and Ariadne's modules, the schema
            return self._graphql

    @property
    def exporter(self) -> MetricsExporter:
        with self._lock:
            if self._exporter is None:
                from ..metrics import MetricsExporter

                self._exporter = MetricsExporter(self.settings, self.inventory)
                freeze_long_lived()  # prometheus_client's modules
            return self._exporter

    def cancel_all(self, reason: str) -> None:
        """Stop the GraphQL operations running now, if GraphQL was ever asked (signal-safe:
        it only sets flags)."""
        endpoint = self._graphql
        if endpoint is not None:
            endpoint.cancel_all(reason)

    async def ready_graphql(self) -> GraphQLEndpoint:
        if self._graphql is not None:
            return self._graphql
        return await run_in_threadpool(lambda: self.graphql)

    async def ready_exporter(self) -> MetricsExporter:
        if self._exporter is not None:
            return self._exporter
        return await run_in_threadpool(lambda: self.exporter)


def create_app(
    settings: Settings, inventory: Inventory | None = None, sampler: WatchedSampler | None = None
) -> Starlette:
    """The ASGI app. Routes answer at / and, when a --path-prefix is set, under it too, so it
    works whether or not the reverse proxy strips the prefix."""
    inventory = inventory or Inventory(
        settings.bpf_dir, max_age=settings.cache_max_age, host_root=settings.host_root
    )
    sampler = sampler or make_sampler(settings)
    services = Services(settings, inventory, sampler)
    trimmer = IdleTrimmer()  # an idle server gives back what its last requests freed
    static = StaticFiles()

    async def graphiql(_: Request) -> Response:
        base = await run_in_threadpool(static.base_url, settings.path_prefix)
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(graphiql_page(settings, base, nonce), headers=page_headers(nonce))

    async def ui(_: Request) -> Response:
        """Every /ui/... path gets the same page: the app routes in the browser (deep links)."""
        base = await run_in_threadpool(static.base_url, settings.path_prefix)
        html = ui_page(settings, base, static.ui_modules())
        return HTMLResponse(html, headers=page_headers())

    async def static_file(request: Request) -> Response:
        args = (
            request.path_params["digest"],
            request.path_params["rest"],
            request.headers.get("accept-encoding", ""),
        )
        cached = static.cached_response(*args)
        if cached is not None:
            return cached
        return await run_in_threadpool(static.response, *args)

    async def query(request: Request) -> Response:
        endpoint = await services.ready_graphql()
        try:
            return await endpoint.handle(request)
        finally:
            trimmer.touch()

    async def metrics(request: Request) -> Response:
        exporter = await services.ready_exporter()
        body, content_type = await run_in_threadpool(exporter.render, request.headers.get("accept"))
        trimmer.touch()
        return Response(body, media_type=content_type)

    async def healthz(_: Request) -> Response:
        """Liveness: the process answers. Never touches the kernel."""
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        """Readiness: the kernel's programs and maps can be listed (two cheap syscalls)."""
        reason = kernel_unreadable_reason()
        if reason is None:
            return PlainTextResponse("ok\n")
        return PlainTextResponse(f"not ready: {reason}\n", status_code=503)

    routes = []
    for prefix in dict.fromkeys(["/", settings.path_prefix]):
        routes += [
            Route(prefix, graphiql, methods=["GET"]),
            Route(prefix + "ui", ui, methods=["GET"]),
            Route(prefix + "ui/{rest:path}", ui, methods=["GET"]),
            Route(prefix + "static/{digest}/{rest:path}", static_file, methods=["GET"]),
            Route(prefix + "query", query, methods=["GET", "POST"]),
            Route(prefix + "metrics", metrics, methods=["GET"]),
            Route(prefix + "healthz", healthz, methods=["GET"]),
            Route(prefix + "readyz", readyz, methods=["GET"]),
        ]
    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "Authorization"],
            )
        )
    middleware.append(Middleware(Guard, settings=settings))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.inventory = inventory
    app.state.services = services
    app.state.trimmer = trimmer
    app.state.sampler = sampler
    return app


def make_sampler(settings: Settings) -> WatchedSampler:
    """The server's sampler of program counters (idle until someone asks for rates), with
    its BPF_ENABLE_STATS fd held by --enable-stats' policy (model.stats_hold)."""
    interval = settings.sample_interval
    hold = StatsHold(settings.stats_policy, settings.stats_idle_seconds)
    return WatchedSampler(
        History(capacity=int(settings.history_seconds / interval) + 1),
        interval=interval,
        idle_after=settings.watch_idle_seconds,
        probe=StatsProbe(own_fd=lambda: hold.held),
        stats_hold=hold,
    )
