"""A resolver below the root that raises: the plan gives the operation to graphql-core
(which reports the field error) instead of failing the request."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType, QueryType, graphql_sync, make_executable_schema
from graphql import parse

from devagent.api.fastpath import FastPath

SDL = """
type Query { things: [Thing!]! }
type Thing { id: Int!, risky: String }
"""


class Context:
    snapshot = object()


def schema() -> Any:
    query, thing = QueryType(), ObjectType("Thing")
    query.set_field("things", lambda *_: [{"id": 1}, {"id": 2}])

    @thing.field("risky")
    def risky(obj: dict[str, int], _info: Any) -> str:
        if obj["id"] == 2:
            raise ValueError("thing 2 is broken")
        return "fine"

    return make_executable_schema(SDL, query, thing)


def test_an_error_below_the_root_falls_back_to_graphql_core() -> None:
    built = schema()
    fast = FastPath(built, [])
    data = {"query": "{ things { id risky } }"}
    assert fast.run(data, Context(), parse(data["query"])) is None  # not an exception
    _, theirs = graphql_sync(built, data, context_value=Context())
    assert theirs["data"] == {"things": [{"id": 1, "risky": "fine"}, {"id": 2, "risky": None}]}
    assert theirs["errors"][0]["message"] == "thing 2 is broken"


def test_the_same_operation_without_the_error_is_planned() -> None:
    fast = FastPath(schema(), [])
    data = {"query": "{ things { id } }"}
    planned = fast.run(data, Context(), parse(data["query"]))
    assert planned is not None and planned[0] == {"data": {"things": [{"id": 1}, {"id": 2}]}}
