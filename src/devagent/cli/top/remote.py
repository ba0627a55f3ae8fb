"""Frames from a remote agent, through its GraphQL API: one query per refresh.

The query asks for the host, every program with its rates (the agent samples while we ask,
see model.sampler) and, when a program is selected, its detail and history in the same
request. The token goes in `Authorization: Bearer`.

What comes back is not trusted: the request is bounded in time and size (fetch), the JSON in
depth (orjson stops at 1024 levels), and its shape is checked while the frame is built
(answer). Whatever goes wrong is one SourceError of one line, which the JSON mode prints
before it exits 1 and the full-screen view shows in its status line.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error

from ...model.bounded_http import TooBig, TooSlow, fetch
from . import answer
from .agent_url import agent_endpoint
from .answer import NAME_FIELD, Node, ShapeError
from .frame import Frame, SourceError
from .plain import printable

TIMEOUT = 10.0  # seconds for a whole request: --agent-timeout
MAX_BYTES = 64 << 20  # bytes of one answer: --max-answer-bytes

PROGRAM_FIELDS = (
    f"id {NAME_FIELD} type attachPoint owners {{ pid comm }} "
    "eventsPerSecond avgRunTimeNs cpuPercent recursionMissesPerSecond agentOwn"
)
HOST_FIELDS = (
    "hostname kernelRelease cpuCount statsMode statsDescription programCount mapCount "
    "linkCount cpuPercent hostCpuPercent eventsPerSecond"
)
DETAIL_FIELDS = (
    f"id {NAME_FIELD} type owners {{ pid comm }} attachPoint "
    "maps { id name type maxEntries usedEntries memlockBytes }"
)


def top_query(selected: int | None, seconds: int = 300) -> str:
    """The one query of a refresh (with the selected program's detail, if any)."""
    detail = ""
    if selected is not None:
        detail = (
            f" detail: program(id: {selected}) {{ {DETAIL_FIELDS} }} "
            f"stats: programStats(ids: [{selected}], seconds: {seconds}) "
            "{ id points { eventsPerSecond cpuPercent } }"
        )
    return f"query Top {{ host {{ {HOST_FIELDS} }} programs {{ {PROGRAM_FIELDS} }}{detail} }}"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


class RemoteSource:
    """Frames of the agent at `url` (e.g. http://host:8080, with or without /query). Each
    request ends within `timeout` seconds and reads at most `max_bytes` of answer."""

    fleet = False  # one host's programs (frame.Source)

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = TIMEOUT,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        # HOST:PORT, the base URL, .../ui/ or .../query; only HTTP(S) (urllib would also
        # open file: and ftp: URLs).
        self.endpoint = agent_endpoint(url)
        self.token = token
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.selected: int | None = None
        self._last: float | None = None

    def _fail(self, what: str) -> SourceError:
        return SourceError(f"the agent at {printable(self.endpoint)} {printable(what, 300)}")

    def _post(self, text: str) -> bytearray:
        """The answer's bytes; SourceError names what went wrong."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps({"query": text}).encode()
        try:
            return fetch(self.endpoint, body, headers, seconds=self.timeout,
                        max_bytes=self.max_bytes)  # fmt: skip
        except TooBig:
            raise self._fail(
                f"answered more than {_size(self.max_bytes)} (--max-answer-bytes)"
            ) from None
        except (TooSlow, TimeoutError):
            raise self._fail(
                f"gave no complete answer within {self.timeout:g} s (--agent-timeout)"
            ) from None
        except urllib.error.HTTPError as err:
            hint = " (wrong or missing --auth-token?)" if err.code in (401, 403) else ""
            raise self._fail(f"answered HTTP {err.code} {err.reason}{hint}") from None
        except http.client.RemoteDisconnected:
            raise self._fail("closed the connection without answering") from None
        except http.client.IncompleteRead:
            raise self._fail("sent an answer cut short") from None
        except http.client.HTTPException as err:
            raise self._fail(f"answered something that is not HTTP ({err!r})") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise SourceError(
                f"cannot reach {printable(self.endpoint)}: {printable(str(reason), 300)}"
            ) from None

    def query(self, text: str) -> Node:
        """POST one operation: its `data`, checked to be an object."""
        import orjson

        try:
            body = orjson.loads(self._post(text))
        except orjson.JSONDecodeError as err:
            raise self._fail(f"answered something that is not JSON ({err})") from None
        if not isinstance(body, dict):
            raise self._fail("answered an unexpected shape: the answer is not an object")
        if body.get("errors"):
            raise self._fail(f"answered with an error: {answer.error_text(body['errors'])}")
        try:
            return Node(body.get("data"), "")
        except ShapeError as err:
            raise self._fail(f"answered an unexpected shape: {err}") from None

    def refresh(self) -> Frame:
        try:
            data = self.query(top_query(self.selected))
        except SourceError as err:
            if self.selected is None or "not found" not in str(err):
                raise
            self.selected = None  # the selected program is gone: show the rest
            data = self.query(top_query(None))
        now = time.monotonic()
        try:
            header, rows = answer.header(data), answer.rows(data)
            detail = answer.detail(data) if self.selected is not None else None
        except ShapeError as err:
            raise self._fail(f"answered an unexpected shape: {err}") from None
        return Frame(time.time(), self._interval(now), header, rows, detail)

    def _interval(self, now: float) -> float | None:
        """Seconds since the previous reading (None for the first); `now` becomes it."""
        interval = None if self._last is None else now - self._last
        self._last = now
        return interval

    def close(self) -> None:
        """Nothing is held."""
