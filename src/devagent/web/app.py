"""Wiring: one Starlette app serving the playground, GraphQL and metrics. No logic here."""

from __future__ import annotations

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..api import build_schema
from ..api.entries import EntryPager
from ..api.http import GraphQLEndpoint
from ..metrics import MetricsExporter
from ..model.inventory import Inventory
from ..model.settings import Settings
from .playground import playground_html
from .security import Guard


def create_app(settings: Settings, inventory: Inventory | None = None) -> Starlette:
    """The ASGI app. Routes answer at / and, when a --path-prefix is set, under it too, so it
    works whether or not the reverse proxy strips the prefix."""
    inventory = inventory or Inventory(
        settings.bpf_dir, max_age=settings.cache_max_age, host_root=settings.host_root
    )
    graphql = GraphQLEndpoint(build_schema(), settings, inventory, EntryPager(inventory))
    exporter = MetricsExporter(settings, inventory)
    page = playground_html(settings.path_prefix)

    async def playground(_: Request) -> Response:
        return HTMLResponse(page)

    async def metrics(request: Request) -> Response:
        body, content_type = await anyio.to_thread.run_sync(
            exporter.render, request.headers.get("accept")
        )
        return Response(body, media_type=content_type)

    routes = []
    for prefix in dict.fromkeys(["/", settings.path_prefix]):
        routes += [
            Route(prefix, playground, methods=["GET"]),
            Route(prefix + "query", graphql.handle, methods=["GET", "POST"]),
            Route(prefix + "metrics", metrics, methods=["GET"]),
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
    app.state.graphql = graphql
    return app
