"""GraphQL requests straight to their endpoint, past Starlette's middleware and routing.

The explorer polls `/query` every 2 s per tab, and each poll finds the CPU idle: there,
Starlette's error and exception middleware, the Guard as a middleware, the router's
matching and its request wrapper cost ~0.25 ms of a ~3 ms poll with ~50 objects
(bench/NOTES.md). This front takes exactly the requests that would end in the `query`
route with nothing else to do on the way: GET or POST on one of its paths, admitted by
the same Guard checks, and no CORS headers to add. Everything else (other paths and
methods, a request the Guard refuses, one carrying an Origin when --cors-origin is set)
goes through the Starlette app as before, so each answer is the one it gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .security import Guard


class QueryLane:
    """The server's ASGI app: the lane described above in front of `app`."""

    def __init__(
        self,
        app: ASGIApp,
        state: State,
        query: Callable[[Request], Awaitable[Response]],
        paths: set[str],
        guard: Guard,
        cors: bool,
    ) -> None:
        self.app = app
        self.state = state  # the Starlette app's (the server and tests read it here)
        self.query = query
        self.paths = frozenset(paths)
        self.guard = guard
        self.cors = cors
        self.taken = 0  # requests answered through the lane (tests read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in self.paths
            and scope["method"] in ("GET", "POST")
            and not scope.get("root_path")
        ):
            headers = dict(scope["headers"])
            if (not self.cors or b"origin" not in headers) and (
                self.guard.refusal(scope, headers) is None
            ):
                self.taken += 1
                response = await self.query(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
