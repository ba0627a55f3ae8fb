"""Header lists drawn at random, sent as raw bytes to a real `phydev server`: Host, Origin and
Authorization in any letter case, some repeated (`host` then `HOST`), good and bad values,
other headers mixed in. The answer is exactly what the rules say: 400 naming the header for
a repeated one, else 403 for a foreign host or origin, else 401 for a missing or wrong token,
else 200; and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import PhydevServer, require_kernel
from tests.e2e.test_duplicate_headers import ALLOWED_ORIGIN, raw_request
from tests.e2e.test_graphql_safety import _wait as wait_for_page

TOKEN = "fuzz-token"
ACCESS = ("Host", "Origin", "Authorization")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhydevServer]:
    require_kernel()
    directory = tmp_path_factory.mktemp("header-fuzz")
    (directory / "token").write_text(TOKEN + "\n")
    (directory / "token").chmod(0o600)
    server = PhydevServer("--auth-token-file", str(directory / "token"),
                          "--cors-origin", ALLOWED_ORIGIN, bpf_dir=str(directory))  # fmt: skip
    wait_for_page(server)
    yield server
    server.stop()


def values(port: int) -> dict[str, list[str]]:
    return {
        "Host": [f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}", "evil.example",
                 f"evil.example:{port}"],
        "Origin": [ALLOWED_ORIGIN, f"http://127.0.0.1:{port}", "https://evil.example", "null"],
        "Authorization": [f"Bearer {TOKEN}", "Bearer wrong", TOKEN, "Basic eDp5"],
        "Accept": ["application/json", "*/*"],
        "X-Other": ["1", "2"],
    }  # fmt: skip


@st.composite
def header_lists(draw: st.DrawFn, port: int) -> list[tuple[str, str]]:
    """Header lines: each name in a drawn letter case, each line a drawn value."""
    choices = values(port)
    names = draw(st.lists(st.sampled_from(sorted(choices)), max_size=7))
    lines = []
    for name in names:
        upper = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
        cased = "".join(c.upper() if u else c.lower() for c, u in zip(name, upper, strict=True))
        lines.append((cased, draw(st.sampled_from(choices[name]))))
    return lines


def expected(lines: list[tuple[str, str]], port: int) -> tuple[int, str | None]:
    """(status, repeated header) the rules give for these header lines."""
    found: dict[str, list[str]] = {}
    for name, value in lines:
        found.setdefault(name.capitalize(), []).append(value)
        if name.capitalize() in ACCESS and len(found[name.capitalize()]) == 2:
            return 400, name.capitalize()  # the first repeat named
    host = found.get("Host", [None])[0]
    if host is not None and "evil" in host:
        return 403, None
    origin = found.get("Origin", [None])[0]
    same = origin == f"http://{host}" and host == f"127.0.0.1:{port}"
    if origin is not None and origin != ALLOWED_ORIGIN and not same:
        return 403, None
    if found.get("Authorization") != [f"Bearer {TOKEN}"]:
        return 401, None
    return 200, None


def test_access_headers_in_any_case_and_number(agent: PhydevServer) -> None:
    port = agent.port

    @given(header_lists(port))
    def one(lines: list[tuple[str, str]]) -> None:
        status, body = raw_request(port, lines)
        want, repeated = expected(lines, port)
        assert status == want, (lines, body)
        if repeated is not None:
            message = json.loads(body)["errors"][0]["message"]
            assert message.startswith(f"more than one {repeated} header"), message

    one()
    good = [("Host", f"127.0.0.1:{port}"), ("Authorization", f"Bearer {TOKEN}")]
    status, body = raw_request(port, good)
    assert status == 200 and json.loads(body)["data"], body
    assert agent.proc.poll() is None


def test_the_expectations_see_case_and_repeats() -> None:
    """The oracle itself: `host` and `HOST` are one header twice."""
    assert expected([("host", "localhost"), ("HOST", "localhost")], 1) == (400, "Host")
    assert expected([("oRIGIN", "null")], 1) == (403, None)
    assert expected([("authorization", f"Bearer {TOKEN}")], 1) == (200, None)
    assert expected([], 1) == (401, None)
