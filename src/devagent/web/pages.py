"""The two HTML pages: GraphiQL at `/` and the web UI's single page at `/ui/...`.

Both are a few lines of HTML naming versioned static files (web.static_files); the server
passes them its settings as a JSON block (`<script type="application/json">`, data, never run)
because the Content-Security-Policy below allows scripts from this server's own files only:
no inline script, no CDN, nothing fetched from anywhere else.
"""

from __future__ import annotations

import json
from html import escape

from .. import __version__
from ..model.settings import Settings

# Only this server: scripts, styles, fetches and images from its own origin. GraphiQL's style
# sheet embeds its fonts and icons as data: URLs, hence `data:` for those two.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def page_headers(style_nonce: str | None = None) -> dict[str, str]:
    """Headers of both pages. `style_nonce`: GraphiQL's dialogs add one <style> element (from
    react-remove-scroll), which carries the nonce the bundle reads from `__webpack_nonce__`;
    a fresh nonce per response lets that one element in and nothing else."""
    csp = CONTENT_SECURITY_POLICY
    if style_nonce is not None:
        csp = csp.replace("style-src 'self'", f"style-src 'self' 'nonce-{style_nonce}'")
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def page_config(settings: Settings, static_base: str) -> dict[str, object]:
    """What the page scripts need to know about this server."""
    prefix = settings.path_prefix
    return {
        "version": __version__,
        "prefix": prefix,
        "endpoint": prefix + "query",
        "ui": prefix + "ui/",
        "static": static_base,
        "authRequired": settings.auth_token is not None,
    }


def _config_block(config: dict[str, object]) -> str:
    text = json.dumps(config).replace("<", "\\u003c")  # no "</script>" can end the block
    return f'<script type="application/json" id="phydev-config">{text}</script>'


def graphiql_page(settings: Settings, static_base: str, style_nonce: str) -> str:
    """GraphiQL, sending queries to `<path-prefix>query`."""
    s = escape(static_base)
    config = {**page_config(settings, static_base), "styleNonce": style_nonce}
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phydev GraphiQL</title>
<link rel="icon" href="{s}favicon.svg">
<link rel="stylesheet" href="{s}vendor/graphiql/graphiql.min.css">
<link rel="stylesheet" href="{s}graphiql-page.css">
{_config_block(config)}
<script src="{s}vendor/react/react.production.min.js" defer></script>
<script src="{s}vendor/react-dom/react-dom.production.min.js" defer></script>
<script src="{s}vendor/graphiql/graphiql.min.js" defer></script>
<script src="{s}graphiql-page.js" defer></script>
</head>
<body>
<form id="phydev-bar" autocomplete="off">
  <b>phydev</b>
  <span>endpoint <code id="phydev-endpoint"></code></span>
  <a id="phydev-ui-link" href="{escape(settings.path_prefix)}ui/">web UI</a>
  <label>bearer token <input id="phydev-token" type="password" autocomplete="off"
    placeholder="if the agent needs one"></label>
</form>
<div id="graphiql">Loading GraphiQL…</div>
</body>
</html>
"""


def ui_page(settings: Settings, static_base: str, modules: list[str]) -> str:
    """The web UI's page: the same for every `/ui/...` path (the app routes in the browser).
    `modules` are preloaded all at once (see StaticFiles.ui_modules)."""
    s = escape(static_base)
    preload = "\n".join(f'<link rel="modulepreload" href="{s}{escape(m)}">' for m in modules)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>phydev</title>
{_config_block(page_config(settings, static_base))}
<!-- first in line: the list query starts before the other files are fetched (queries.js) -->
<script type="module" async src="{s}ui/early.js"></script>
<link rel="stylesheet" href="{s}vendor/uplot/uPlot.min.css">
<!-- the id tells Cytoscape.js its container rule is present (in app.css): it would
     otherwise add an inline <style>, which the CSP refuses -->
<link rel="stylesheet" href="{s}ui/app.css" id="__________cytoscape_stylesheet">
{preload}
<link rel="icon" href="{s}favicon.svg">
<script type="module" src="{s}ui/app.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading…</p></div>
</body>
</html>
"""
