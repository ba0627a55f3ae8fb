"""Access control in front of the app: bearer token and same-origin policy.

The Go agent had none: anyone reaching the port, or any web page its operator visited, could
read and rewrite kernel maps. Here /query and /metrics need `Authorization: Bearer TOKEN` when a
token is set, and requests carrying a foreign Origin are refused unless --cors-origin allows it
(browsers always send Origin on cross-site POSTs and preflights).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..model.settings import Settings

PROTECTED_SUFFIXES = ("/query", "/metrics")


class Guard:
    """ASGI middleware enforcing --auth-token and the origin policy."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.token = settings.auth_token
        self.origins = frozenset(o.rstrip("/") for o in settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if origin and not self._origin_allowed(origin, headers.get("host", "")):
            response = JSONResponse(
                {"errors": [{"message": f"cross-origin requests from {origin} are not allowed "
                             "(start phydev server with --cors-origin ORIGIN to allow one)"}]},
                status_code=403,
            )  # fmt: skip
            await response(scope, receive, send)
            return
        if self.token and scope["path"].endswith(PROTECTED_SUFFIXES):
            given = headers.get("authorization", "")
            expected = f"Bearer {self.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                response = JSONResponse(
                    {"errors": [{"message": "missing or wrong bearer token"}]},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="phydev"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if origin.rstrip("/") in self.origins:
            return True
        return urlsplit(origin).netloc.lower() == host.lower()  # same origin
