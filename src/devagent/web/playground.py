"""The interactive GraphQL page served at `/`: self-contained, no CDN (hosts may be offline)."""

from __future__ import annotations

import json
from importlib.resources import files


def playground_html(path_prefix: str) -> str:
    """The page, wired to send queries to `<path_prefix>query`."""
    template = files("devagent.web").joinpath("static/playground.html").read_text(encoding="utf-8")
    endpoint = json.dumps(path_prefix + "query").replace("</", "<\\/")
    return template.replace("__ENDPOINT__", endpoint)
