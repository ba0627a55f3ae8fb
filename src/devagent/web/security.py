"""Access control in front of the app: known host names, bearer token, same-origin policy.

The Go agent had none: anyone reaching the port, or any web page its operator visited, could
read and rewrite kernel maps. Here, in this order:

- Host: only known names are served (loopback names, the listen address, this machine's
  host name, `--allowed-host` names and the hosts of `--cors-origin`), and any IP address.
  A DNS rebinding page (evil.example re-resolved to 127.0.0.1) reaches the port with
  `Host: evil.example`, and its `Origin` matches that Host, so without this check it could
  read everything. An IP address in Host cannot come from such a page: rebinding needs a name.
- Origin: requests carrying a foreign Origin are refused unless `--cors-origin` allows it
  (browsers always send Origin on cross-site POSTs and preflights).
- Token: /query and /metrics need `Authorization: Bearer TOKEN` when a token is set,
  compared as UTF-8 bytes in constant time.

Before all of these (SingleHeaders, outermost): a request with two Host, Origin or
Authorization lines gets 400. The checks read one copy; `Host: evil.example` followed by
`Host: 127.0.0.1` was served, and a foreign first Origin or a wrong first token was ignored
for the last, while a proxy or the browser may have meant the first. RFC 9112 (3.2) requires
the 400 for Host.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..model.settings import Settings

PROTECTED_SUFFIXES = ("/query", "/metrics")
# The pages' scripts and styles: public files, no data. Browsers send Origin on module script
# requests even from the agent's own page, so refusing them there would leave a page behind
# a Host-rewriting proxy blank instead of showing why its queries are refused.
STATIC_FILES = "/static/"
ANY_ORIGIN = "*"
# Names that always mean this machine: RFC 6761 reserves localhost and *.localhost for
# loopback (browsers resolve them without DNS), the others are Debian's /etc/hosts names.
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers that decide access, so a request may carry each once (names as in ASGI: lower case).
SINGLE_HEADERS = {b"host": "Host", b"origin": "Origin", b"authorization": "Authorization"}


def normalise_origin(text: str) -> str:
    """An origin as browsers send it in `Origin`: `scheme://host[:port]`, lower case, no
    default port, no trailing slash (`HTTP://X:80/` -> `http://x`). `*` stays `*`. ValueError
    names what is wrong with anything else."""
    value = text.strip()
    if value == ANY_ORIGIN:
        return value
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"{text!r} is not an origin: write http:// or https:// and a host, "
                         "e.g. https://explorer.example")  # fmt: skip
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"{text!r} is not an origin: only scheme://host[:port], without a "
                         "path, query or user")  # fmt: skip
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    if not host:
        raise ValueError(f"{text!r} is not an origin: it has no host")
    try:
        host = host.encode("idna").decode("ascii")  # browsers send IDN hosts as punycode
    except UnicodeError:
        raise ValueError(f"{text!r} has an invalid host name") from None
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{suffix}"


def public_url_origin(url: str, path_prefix: str) -> str:
    """The origin of a --public-url (`https://ops.example/phydev/` -> `https://ops.example`);
    ValueError names what is wrong, including a path that is not --path-prefix (the pages
    would then ask for URLs the proxy does not serve)."""
    parts = urlsplit(url.strip())
    origin = normalise_origin(f"{parts.scheme}://{parts.netloc}" if parts.netloc else url)
    path = "/" + parts.path.strip("/") + "/" if parts.path.strip("/") else "/"
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a public URL has no query or fragment")
    if path != path_prefix:
        raise ValueError(
            f"{url!r}: its path {path} is not the --path-prefix {path_prefix} (start with "
            f"--path-prefix {path} if the proxy serves the agent there)"
        )
    return origin


def host_of_header(value: str) -> str | None:
    """The host name in a Host header (or an origin's netloc), lower case, without port and
    trailing dot; None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return value[1:end]
    host, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return None
    return host.rstrip(".") or None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AllowedHosts:
    """Which `Host` headers are served (see the module docstring)."""

    names: frozenset[str]
    suffixes: tuple[str, ...]  # `.example.com` given to --allowed-host: any name under it

    @classmethod
    def from_settings(cls, settings: Settings) -> AllowedHosts:
        given = [h.strip().lower().rstrip(".") for h in settings.allowed_hosts]
        names = {h for h in given if h and not h.startswith(".")}
        names |= LOOPBACK_NAMES | {socket.gethostname().lower()}
        names.add(settings.listen.lower())
        for origin in (*settings.cors_origins, *settings.public_origins):
            if origin != ANY_ORIGIN:
                host = host_of_header(urlsplit(origin).netloc)
                if host:
                    names.add(host)
        return cls(frozenset(names), tuple(h for h in given if h.startswith(".")))

    def allows(self, host_header: str | None) -> bool:
        """Whether a request with this Host header may be served. No Host at all (HTTP/1.0
        tools) is served: browsers always send one."""
        if host_header is None:
            return True
        host = host_of_header(host_header)
        if host is None:
            return False
        return (
            host in self.names
            or host.endswith(".localhost")
            or host.endswith(self.suffixes)
            or _is_ip(host)
        )


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status, headers=headers)


def repeated_header(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The name of the first of SINGLE_HEADERS that `headers` (ASGI's lower-case names, so
    `host` and `HOST` are one name) carry twice, or None."""
    seen = set()
    for name, _ in headers:
        if name in SINGLE_HEADERS:
            if name in seen:
                return SINGLE_HEADERS[name]
            seen.add(name)
    return None


class SingleHeaders:
    """ASGI middleware refusing repeated Host, Origin and Authorization with 400 (see the
    module docstring). It wraps the whole app (web.server), outside the CORS middleware,
    which answers preflights by itself, so that no path or method skips it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (name := repeated_header(scope["headers"])) is not None:
            response = _refusal(400, f"more than one {name} header: send it once",
                                {"Connection": "close"})  # fmt: skip
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class Guard:
    """ASGI middleware enforcing the allowed hosts, --auth-token and the origin policy."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = AllowedHosts.from_settings(settings)
        self.token = (
            b"Bearer " + settings.auth_token.encode("utf-8") if settings.auth_token else None
        )
        origins = set()
        for origin in settings.cors_origins:
            try:
                origins.add(normalise_origin(origin))
            except ValueError:
                continue  # the CLI refuses these; settings built elsewhere just do not match
        self.any_origin = ANY_ORIGIN in origins
        # --public-url: the agent's own pages as a reverse proxy serves them. Nginx's default
        # sends the upstream's address as Host, so the page's Origin never equals Host there;
        # naming the public origin makes it same-origin without trusting any header.
        self.origins = frozenset(origins) | frozenset(settings.public_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response = self.refusal(scope, dict(scope["headers"]))
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, headers: dict[bytes, bytes]) -> JSONResponse | None:
        """The answer refusing this HTTP request (`headers`: its headers as a dict), or None
        when it may be served."""
        host = headers.get(b"host")
        host_text = host.decode("latin-1") if host is not None else None
        response = None
        if not self.hosts.allows(host_text):
            name = host_of_header(host_text or "") or host_text
            response = _refusal(403,
                f"host {name!r} is not served: start phydev server with --allowed-host {name} "
                "if this is a name of this machine (others are refused, against DNS rebinding)",
            )  # fmt: skip
        elif (
            (origin := headers.get(b"origin")) is not None
            and STATIC_FILES not in scope["path"]
            and not self._origin_allowed(origin.decode("latin-1"), host_text or "")
        ):
            response = _refusal(403,
                f"cross-origin requests from {origin.decode('latin-1')} are not allowed "
                "(start phydev server with --cors-origin ORIGIN to allow one, or, if this is "
                "the agent's own page behind a reverse proxy, --public-url URL)",
            )  # fmt: skip
        elif self.token and scope["path"].endswith(PROTECTED_SUFFIXES):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.token):
                response = _refusal(401, "missing or wrong bearer token",
                                   {"WWW-Authenticate": 'Bearer realm="phydev"'})  # fmt: skip
        return response

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if self.any_origin:
            return True
        try:
            origin = normalise_origin(origin)
        except ValueError:
            return False  # "null" (sandboxed pages, file://) and garbage
        if origin in self.origins:
            return True
        return urlsplit(origin).netloc == host.strip().lower()  # same origin
