"""A small client of Prometheus' HTTP query API (Prometheus, Thanos, Mimir, VictoriaMetrics
all answer it): instant and range queries, with a bearer token or basic auth.

The fleet views (model.fleet) ask it; the agent builds no fan-out of its own. Standard
library only (urllib, through model.bounded_http): a few requests per UI poll do not need a
client library. Each request ends within `timeout` seconds however slowly Prometheus (or a
proxy before it) sends, and reads at most MAX_BYTES: a request thread of the agent is never
held longer.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
from dataclasses import dataclass
from typing import Any

from .bounded_http import TooBig, TooSlow, fetch

Labels = dict[str, str]
MAX_BYTES = 64 << 20  # of one answer: a range query over 500 nodes is a few MiB


class PrometheusError(Exception):
    """A query Prometheus did not answer: unreachable, refused, or an error it reported."""


@dataclass(frozen=True)
class PrometheusAPI:
    """`url`: the server's base URL (e.g. http://prometheus:9090, or a Thanos Query's)."""

    url: str
    token: str | None = None
    basic: tuple[str, str] | None = None  # (user, password)
    timeout: float = 5.0

    def _get(self, path: str, params: dict[str, str]) -> Any:
        target = f"{self.url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.basic:
            pair = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        try:
            body = fetch(target, None, headers, seconds=self.timeout, max_bytes=MAX_BYTES)
        except TooSlow:
            raise PrometheusError(f"Prometheus at {self.url} gave no complete answer within "
                                  f"{self.timeout:g} s") from None  # fmt: skip
        except TooBig:
            raise PrometheusError(f"Prometheus at {self.url} answered more than "
                                  f"{MAX_BYTES >> 20} MiB") from None  # fmt: skip
        except urllib.error.HTTPError as exc:
            raise PrometheusError(self._refusal(exc)) from None
        except http.client.HTTPException as exc:
            raise PrometheusError(
                f"Prometheus at {self.url} answered something that is not HTTP ({exc!r})"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"Prometheus at {self.url} is unreachable: {reason}") from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise PrometheusError(f"Prometheus at {self.url} answered something not JSON") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else None
            raise PrometheusError(f"Prometheus at {self.url} refused the query: {error}")
        return answer.get("data") or {}

    def _refusal(self, exc: urllib.error.HTTPError) -> str:
        try:
            error = json.loads(exc.read(1 << 16)).get("error")
        except (ValueError, AttributeError, OSError, http.client.HTTPException):
            error = None
        if exc.code in (401, 403):
            return (f"Prometheus at {self.url} refused access (HTTP {exc.code}): check "
                    "--prometheus-token-file / --prometheus-basic-auth-file")  # fmt: skip
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location", "?") if exc.headers else "?"
            return (f"Prometheus at {self.url} answered HTTP {exc.code}, a redirect to {where}: "
                    "give --prometheus the URL that answers")  # fmt: skip
        return f"Prometheus at {self.url} answered HTTP {exc.code}" + (
            f": {error}" if error else ""
        )

    def query(self, promql: str) -> list[tuple[Labels, float]]:
        """An instant query's vector: (labels, value) per series."""
        data = self._get("/api/v1/query", {"query": promql})
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        return [(dict(r.get("metric") or {}), float(r["value"][1])) for r in data.get("result", [])]

    def query_range(
        self, promql: str, start: float, end: float, step: float
    ) -> list[tuple[Labels, list[tuple[float, float]]]]:
        """A range query's matrix: (labels, [(unix time, value), ...]) per series."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
        }
        data = self._get("/api/v1/query_range", params)
        return [
            (dict(r.get("metric") or {}), [(float(t), float(v)) for t, v in r.get("values", [])])
            for r in data.get("result", [])
        ]
