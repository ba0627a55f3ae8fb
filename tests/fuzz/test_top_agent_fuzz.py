"""`phydev top --agent` against a fake agent that answers random things: any JSON value, a
valid answer with one field replaced by random JSON, random bytes, and the hostile answers
of tests/e2e/test_top_hostile.py (nested too deep, too big, too slow, not HTTP). Whatever
comes back, a refresh gives a Frame that the screen and the JSON mode can show, or one
SourceError of one printable line: never another exception.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rich.console import Console

from devagent.cli.top.frame import Frame, SourceError
from devagent.cli.top.jsonl import frame_json
from devagent.cli.top.remote import RemoteSource
from devagent.cli.top.view import cell_texts, detail_text, header_lines
from tests.hostile_agent import Flood, Handler, HostileAgent, raw, trickle, valid_answer

SELECTED = 7  # the fake program's id: its detail is asked for when selected

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False,
    allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=20,
)  # fmt: skip
STRINGS = st.sampled_from(["[/]", "[bold]x", "\x1b[2J", "\u202e", "a\nb", "", "x" * 1000])


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value where another value can go."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*prefix, i))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


VALID = valid_answer(detail=True)
PATHS = list(paths(VALID))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid answer (with the detail) with one place replaced by random JSON or a string
    meant to break a terminal."""
    path = draw(st.sampled_from(PATHS))
    return json.dumps(replaced(VALID, path, draw(JSON | STRINGS))).encode()


BODIES = (
    mutated()
    | JSON.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | st.just(json.dumps(VALID).encode())
)


@pytest.fixture(scope="module")
def agent() -> Iterator[HostileAgent]:
    server = HostileAgent(raw(b"{}"))
    yield server
    server.close()


def check(agent: HostileAgent, handler: Handler, selected: bool, **limits: Any) -> str:
    """One refresh against `handler`: a Frame every view can show (''), or one clean line
    (returned)."""
    agent.handler = handler
    source = RemoteSource(agent.url, **limits)
    source.selected = SELECTED if selected else None
    try:
        frame = source.refresh()
    except SourceError as err:
        message = str(err)
        assert message.isprintable() and len(message) < 700, message
        return message
    show(frame)
    return ""


def show(frame: Frame) -> None:
    """Everything the full-screen view and the JSON mode make of a frame."""
    out = io.StringIO()
    console = Console(file=out, width=150, color_system=None, force_terminal=False)
    for row in frame.rows:
        console.print(*cell_texts(row))
    for line in header_lines(frame.header):
        assert line.isprintable()
        console.print(line, markup=False)
    if frame.detail is not None:
        title, body = detail_text(frame.detail, frame.detail.id)
        assert title.isprintable() and all(line.isprintable() for line in body.splitlines())
    assert "\x1b" not in out.getvalue()
    orjson.dumps(frame_json(frame))


@given(body=BODIES, selected=st.booleans())
@example(body=b"[" * 200_000 + b"]" * 200_000, selected=False)
@example(body=b'{"data": {"host": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}", selected=False)
@example(body=json.dumps({"data": {"host": None, "programs": []}}).encode(), selected=False)
@example(body=json.dumps({"data": {"programs": {}}}).encode(), selected=False)
@example(body=b"<html>502 Bad Gateway</html>", selected=True)
def test_random_answers_never_raise_anything_else(
    agent: HostileAgent, body: bytes, selected: bool
) -> None:
    check(agent, raw(body), selected, timeout=5.0)


@pytest.mark.parametrize(
    ("handler", "limits", "expected"),
    [
        (Flood(64 << 20, declare=False), {"max_bytes": 1 << 20}, "more than 1 MiB"),
        (Flood(64 << 20, declare=True), {"max_bytes": 1 << 20}, "more than 1 MiB"),
        (trickle(json.dumps(VALID).encode(), every=0.2), {"timeout": 1.0}, "within 1 s"),
        (trickle(b"{}", every=0.2, headers_too=True), {"timeout": 1.0}, "within 1 s"),
        (lambda conn, _stop: conn.sendall(b"\x00\xff garbage\r\n\r\n"), {}, "not HTTP"),
        (
            lambda conn, _stop: conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200),
            {},
            "not HTTP",
        ),
    ],
    ids=["flood", "flood-declared", "trickle", "trickled-status", "not-http", "header-flood"],
)
def test_hostile_answers(
    agent: HostileAgent, handler: Handler, limits: dict[str, Any], expected: str
) -> None:
    assert expected in check(agent, handler, False, **limits)
