"""`top --agent`: what people paste, turned into the agent's GraphQL endpoint.

People give the agent the way they reach it: `HOST:PORT`, the banner's base URL, the web
UI's address from the browser (`.../ui/` or a deep link under it), or the GraphQL endpoint
(`.../query`). Each names the same agent; anything else (another scheme, a query string,
/metrics) is refused with what to give instead, before any request is made.
"""

from __future__ import annotations

import urllib.parse

from .frame import SourceError
from .plain import printable

EXAMPLES = "give HOST:PORT or the agent's URL, e.g. http://127.0.0.1:8080/"
# Paths of the agent that are not its base: the UI (and its deep links), GraphQL.
_UI = "/ui"
_QUERY = "/query"


def agent_endpoint(text: str) -> str:
    """The GraphQL endpoint (scheme://host[:port][/prefix]/query) of the agent that `text`
    names; SourceError says why `text` names none."""
    given = text.strip()
    shown = printable(text)
    if not given:
        raise SourceError(f"--agent is empty: {EXAMPLES}")
    url = given if "://" in given else f"http://{given}"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise SourceError(f"--agent {shown}: {exc}: {EXAMPLES}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise SourceError(f"--agent {shown}: not an http:// or https:// URL: {EXAMPLES}")
    if not parts.hostname:
        raise SourceError(f"--agent {shown}: no host: {EXAMPLES}")
    if parts.username is not None or parts.password is not None:
        raise SourceError(f"--agent {shown}: no user or password in the URL: use --auth-token-file")
    if parts.query or parts.fragment:
        raise SourceError(f"--agent {shown}: no query string or #fragment: {EXAMPLES}")
    base = _base_path(parts.path)
    if base is None:
        raise SourceError(
            f"--agent {shown}: {printable(parts.path)} is no page of the agent (its base URL, "
            f"/ui/ or /query are): {EXAMPLES}"
        )
    netloc = parts.hostname if port is None else f"{parts.hostname}:{port}"
    if ":" in parts.hostname:  # an IPv6 address goes back in brackets
        netloc = f"[{parts.hostname}]" + ("" if port is None else f":{port}")
    return f"{parts.scheme.lower()}://{netloc}{base}{_QUERY}"


def _base_path(path: str) -> str | None:
    """The agent's path prefix ("" or "/prefix") from a path of one of its pages, or None for
    a path that is one of its other endpoints (/metrics, /healthz, ...)."""
    trimmed = path.rstrip("/")
    if trimmed.endswith(_QUERY):
        return trimmed[: -len(_QUERY)]
    if trimmed.endswith(_UI):
        return trimmed[: -len(_UI)]
    ui_at = trimmed.rfind(_UI + "/")
    if ui_at >= 0:  # a deep link of the web UI: /ui/programs/12
        return trimmed[:ui_at]
    last = trimmed.rsplit("/", 1)[-1]
    if last in ("metrics", "healthz", "readyz", "static"):
        return None
    return trimmed
