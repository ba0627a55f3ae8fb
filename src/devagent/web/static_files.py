"""Files under web/static (the pages' scripts, styles and vendored libraries), served offline.

URLs carry a version: `<prefix>static/<digest>/<path>`, where the digest is a hash of every
file's name and content. A page always asks for the files it was written with, and browsers
may keep them for a year without asking again (`immutable`); a new release changes the
digest and so every URL. A request with another digest (a tab left open across an upgrade)
gets today's file, not cached. Content types come from a fixed table (not the host's
mimetypes database, which differs between distributions and made `.mjs` text/plain on some),
and scripts and styles are sent gzip-compressed to browsers that accept it (GraphiQL's 1 MiB
shrinks to ~300 KiB), compressed once and kept.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from pathlib import Path

from starlette.responses import PlainTextResponse, Response

STATIC_ROOT = Path(__file__).with_name("static")
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}
COMPRESSED_TYPES = (".js", ".mjs", ".css", ".json", ".svg")
IMMUTABLE = "public, max-age=31536000, immutable"
EAGER_VENDOR_MODULES = ("vendor/preact/preact.mjs", "vendor/preact/hooks.mjs", "vendor/htm/htm.mjs")


class StaticFiles:
    """The static tree: its version digest, and one response per file asked for."""

    def __init__(self, root: Path = STATIC_ROOT) -> None:
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._digest: str | None = None
        self._gzipped: dict[str, bytes] = {}

    @property
    def digest(self) -> str:
        """12 hex digits of a sha256 over every file's path and bytes (computed once)."""
        with self._lock:
            if self._digest is None:
                h = hashlib.sha256()
                for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
                    h.update(str(path.relative_to(self.root)).encode() + b"\0")
                    h.update(path.read_bytes())
                self._digest = h.hexdigest()[:12]
            return self._digest

    def ui_modules(self) -> list[str]:
        """The web UI's ES modules and the libraries they import at once (not the big ones
        loaded by one page only), for the page to preload in one round trip instead of a
        waterfall of imports."""
        modules = sorted(str(p.relative_to(self.root)) for p in (self.root / "ui").rglob("*.js"))
        first = "ui/queries.js"  # early.js's one import: fetched before the rest
        return [first, *(m for m in modules if m != first), *EAGER_VENDOR_MODULES]

    def base_url(self, path_prefix: str) -> str:
        """Where the page finds the files: `<prefix>static/<digest>/`."""
        return f"{path_prefix}static/{self.digest}/"

    def _file(self, rel: str) -> Path | None:
        """The file for a URL path inside the tree, or None (also for `..` and directories)."""
        if not rel or "\\" in rel or any(part in ("", ".", "..") for part in rel.split("/")):
            return None
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path if path.suffix in CONTENT_TYPES else None

    def cached_response(self, digest: str, rel: str, accept_encoding: str) -> Response | None:
        """The response for a file already compressed and kept, or None: answered on the
        event loop, without a worker thread (the UI's ~20 modules arrive at once)."""
        if "gzip" not in accept_encoding.lower():
            return None
        with self._lock:
            body = self._gzipped.get(rel)
        if body is None:
            return None
        return Response(
            body,
            headers={**self._headers(digest), "Content-Encoding": "gzip"},
            media_type=CONTENT_TYPES["." + rel.rsplit(".", 1)[-1]],
        )

    def _headers(self, digest: str) -> dict[str, str]:
        return {
            "Cache-Control": IMMUTABLE if digest == self.digest else "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Vary": "Accept-Encoding",
        }

    def response(self, digest: str, rel: str, accept_encoding: str) -> Response:
        """The file at `rel` (404 with the path named when there is none)."""
        path = self._file(rel)
        if path is None:
            return PlainTextResponse(f"no static file {rel!r}\n", status_code=404)
        headers = self._headers(digest)
        media_type = CONTENT_TYPES[path.suffix]
        if path.suffix in COMPRESSED_TYPES and "gzip" in accept_encoding.lower():
            headers["Content-Encoding"] = "gzip"
            return Response(self._compressed(rel, path), headers=headers, media_type=media_type)
        return Response(path.read_bytes(), headers=headers, media_type=media_type)

    def _compressed(self, rel: str, path: Path) -> bytes:
        with self._lock:
            body = self._gzipped.get(rel)
        if body is None:
            body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            with self._lock:
                self._gzipped[rel] = body
        return body
