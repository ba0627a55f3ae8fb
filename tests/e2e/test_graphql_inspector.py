"""The program inspector's GraphQL fields against a real `phydev server`: full names,
metadata, instructions, and (with --allow-writes) test runs; values checked against bpftool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import InspectFixture, PhydevServer, bpftool_json
from tests.e2e.test_graphql_server import data, post


@pytest.fixture(scope="module")
def agent(inspect_fixture: InspectFixture) -> Iterator[PhydevServer]:
    server = PhydevServer("--allow-writes", bpf_dir=str(inspect_fixture.mount.path))
    server.wait_ready()
    yield server
    server.stop()


def test_full_names_and_metadata(agent: PhydevServer, inspect_fixture: InspectFixture) -> None:
    query = "{ programs { id name fullName metadata { key value } } }"
    progs = {p["id"]: p for p in data(agent, query)["programs"]}
    for prog_id in inspect_fixture.obj.prog_ids.values():
        ref = bpftool_json("prog", "show", "id", str(prog_id))
        assert isinstance(ref, dict)
        mine = progs[prog_id]
        assert mine["fullName"] == ref["name"]
        assert mine["metadata"] == [
            {"key": k, "value": v if isinstance(v, str) else json.dumps(v)}
            for k, v in ref["metadata"].items()
        ]
    long_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    assert progs[long_id]["name"] == "inspect_socket_"
    assert progs[long_id]["fullName"] == "inspect_socket_filter_with_a_long_name"


def gql(agent: PhydevServer, query: str, **variables: Any) -> dict[str, Any]:
    status, body = post(agent, query, variables)
    assert status == 200, body
    return body
