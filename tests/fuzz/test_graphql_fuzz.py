"""A GraphQL fuzzer over our own schema: operations drawn from the types, fields, arguments
and enums of schema.graphqls (with aliases, fragments, variables, wrong types, unknown names
and plain garbage mixed in), sent to the real app over the real kernel's objects. Whatever
comes in, the answer is never a 5xx and never slow, and the app keeps answering.

Writes stay disabled (the default), so generated mutations are answered, never applied.

And numbers in every form a client may send for an Int variable: the cost sees what
graphql-core runs, and the server refuses what graphql-core refuses.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    OperationDefinitionNode,
)
from graphql.execution.values import get_variable_values
from hypothesis import given
from hypothesis import strategies as st

from devagent.api import build_schema
from devagent.api.http import select_operation
from devagent.api.limits import CostMeter, parse_query
from devagent.api.list_sizes import ListSizes
from devagent.bpf.maps import create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from devagent.web.app import create_app
from tests.conftest import PacketFixture

SCHEMA = build_schema()
MAX_SECONDS = 5.0
NAMES = st.sampled_from(["a", "b", "x1", "programs", "id", "__typename", "nosuch"])
TEXT = st.text(max_size=12)


def unwrap(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


class Generator:
    """Draws operation texts from the schema; ids come from the objects that exist."""

    def __init__(self, draw: st.DrawFn, ids: list[int]) -> None:
        self.draw = draw
        self.ids = ids
        self.fragments: list[str] = []

    def value(self, type_: GraphQLInputType) -> str:
        draw = self.draw
        if draw(st.integers(0, 9)) == 0:  # a value of the wrong type, or a variable
            return draw(st.sampled_from(['"x"', "1.5", "true", "null", "[1, 2]", "$v", "{a: 1}"]))
        named = unwrap(type_)
        inner: Any = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLList):
            items = draw(st.lists(st.just(inner.of_type), max_size=3))
            return "[" + ", ".join(self.value(t) for t in items) + "]"
        if isinstance(named, GraphQLEnumType):
            return draw(st.sampled_from([*named.values, "NOPE"]))
        if isinstance(named, GraphQLScalarType) and named.name == "Int":
            pick = st.sampled_from([0, -1, 1, 32, 10_000, 10_001, 2**31 - 1, -(2**31), *self.ids])
            return str(draw(pick | st.integers(-(2**40), 2**40)))
        return json.dumps(draw(TEXT | st.sampled_from(["0x", "1_0", "A\\xff", "ff" * 20])))

    def arguments(self, field: Any) -> str:
        draw, parts = self.draw, []
        for name, arg in field.args.items():
            if draw(st.integers(0, 5)) == 0:
                continue  # maybe a required one: a validation error
            parts.append(f"{name}: {self.value(arg.type)}")
        if draw(st.integers(0, 15)) == 0:
            parts.append(f"{draw(NAMES)}: 1")
        return f"({', '.join(parts)})" if parts else ""

    def selection(self, type_: GraphQLObjectType, depth: int) -> str:
        draw = self.draw
        names = draw(st.lists(st.sampled_from(sorted(type_.fields)), min_size=1, max_size=4))
        parts = []
        for name in names:
            field = type_.fields[name]
            alias = draw(st.sampled_from(["", "", "a: ", "b: "]))
            text = f"{alias}{name}{self.arguments(field)}"
            named = unwrap(field.type)
            if isinstance(named, GraphQLObjectType):
                if depth >= 4:
                    continue
                inner = self.selection(named, depth + 1)
                if draw(st.integers(0, 6)) == 0:
                    fragment = f"F{len(self.fragments)}"
                    self.fragments.append(f"fragment {fragment} on {named.name} {{ {inner} }}")
                    inner = f"...{fragment}"
                text += f" {{ {inner} }}"
            parts.append(text)
        if draw(st.integers(0, 8)) == 0:
            parts.append(draw(NAMES))  # maybe unknown here
        return " ".join(parts) or "__typename"

    def operation(self) -> str:
        draw = self.draw
        kind = draw(st.sampled_from(["query", "query", "query", "mutation"]))
        root = SCHEMA.query_type if kind == "query" else SCHEMA.mutation_type
        assert root is not None
        body = self.selection(root, 0)
        head = draw(st.sampled_from(["", f"{kind} ", f"{kind} Op ", f"{kind} Op($v: Int) "]))
        return f"{head}{{ {body} }} " + " ".join(self.fragments)


@st.composite
def requests(draw: st.DrawFn, ids: list[int]) -> dict[str, Any]:
    if draw(st.integers(0, 9)) == 0:
        return {"query": draw(st.text(max_size=80))}  # garbage
    body: dict[str, Any] = {"query": Generator(draw, ids).operation()}
    if draw(st.booleans()):
        body["variables"] = {"v": draw(st.sampled_from([1, "x", None, [1], {"a": 1}, 2**40]))}
    if draw(st.integers(0, 5)) == 0:
        body["operationName"] = draw(st.sampled_from(["Op", "Other", ""]))
    return body


@pytest.fixture(scope="module")
def client_ids(packet_fixture: PacketFixture) -> tuple[Any, list[int]]:
    inventory = Inventory(packet_fixture.bpf_dir)
    snap = inventory.snapshot()
    ids = sorted({*list(snap.programs)[:5], *list(snap.maps)[:5]})
    return create_app(Settings(bpf_dir=packet_fixture.bpf_dir), inventory), ids


def send(app: Any, body: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            return await c.post("/query", json=body, timeout=30)

    return asyncio.run(go())


def test_generated_operations_never_get_5xx_nor_take_long(
    client_ids: tuple[Any, list[int]],
) -> None:
    app, ids = client_ids

    @given(requests(ids))
    def one(body: dict[str, Any]) -> None:
        started = time.monotonic()
        response = send(app, body)
        took = time.monotonic() - started
        assert response.status_code < 500, (body, response.text)
        assert took < MAX_SECONDS, (body, took)
        answer = response.json()
        assert "data" in answer or answer["errors"][0]["message"], answer

    one()
    assert send(app, {"query": "{ maps { id } }"}).status_code == 200


# ---------------------------------------------------------------- numeric variables and cost

COST_LIMIT = 2500  # entries(limit: n) on the fuzz map costs 2 + n: refused from 2499 on
HUGE = st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53, 2**63, 2**64, 10**40])


@st.composite
def numeric(draw: st.DrawFn, base: st.SearchStrategy[int]) -> Any:
    """A number in one of the forms a client may send for an Int: int, float (integral or
    not), numeric text, exponent, bool."""
    n = draw(base | HUGE)
    form = draw(st.sampled_from(["int", "float", "fraction", "text", "float text", "bool"]))
    fraction = draw(st.sampled_from([0.5, 0.25, 1e-9, -0.75]))
    return {"int": n, "float": float(n), "fraction": float(n) + fraction, "text": str(n),
            "float text": f"{n}.0", "bool": n % 2 == 0}[form]  # fmt: skip


@pytest.fixture(scope="module")
def costly_app(packet_fixture: PacketFixture) -> Iterator[tuple[Any, int, ListSizes]]:
    """(an app refusing operations over COST_LIMIT, an empty hash map of 10000 entries at
    most, the list sizes of the app's snapshot)."""
    fd = create_map(MAP_TYPE_IDS["Hash"], 8, 8, 10_000, name="fuzz_numbers")
    try:
        inventory = Inventory(packet_fixture.bpf_dir)
        app = create_app(Settings(bpf_dir=packet_fixture.bpf_dir, max_query_cost=COST_LIMIT),
                         inventory)  # fmt: skip
        yield app, map_info(fd).id, ListSizes.of(inventory.snapshot(), possible_cpus())
    finally:
        fd.close()


def coerced(query: str, variables: dict[str, Any]) -> dict[str, Any] | str:
    """The variables as graphql-core coerces them, or its first error message."""
    (op,) = parse_query(query).definitions
    assert isinstance(op, OperationDefinitionNode)
    result: Any = get_variable_values(SCHEMA, op.variable_definitions or [], variables)
    if isinstance(result, list):
        return str(result[0].message)
    return dict(result if isinstance(result, dict) else result.coerced)


def cost_of(query: str, variables: dict[str, Any], sizes: ListSizes) -> int:
    document = parse_query(query)
    operation = select_operation(document, None)
    assert operation is not None
    return (
        CostMeter(SCHEMA, Settings().max_entries_limit)
        .measure(document, operation, variables, sizes)
        .cost
    )


def test_numeric_variables_cost_what_execution_runs(
    costly_app: tuple[Any, int, ListSizes],
) -> None:
    """Issue 21: `limit: 10000.0` ran 10000 entries but was measured as none. Whatever form
    a number comes in, graphql-core either refuses it (and so does the server, with its
    message) or runs it as an Int, and then the cost, and the server's answer, are those of
    that Int."""
    app, map_id, sizes = costly_app
    queries = {
        "n": f"query($n: Int) {{ map(id: {map_id}) {{ entries(limit: $n) {{ key }} }} }}",
        "id": "query($id: Int!) { map(id: $id) { entries(limit: 3000) { key } } }",
        "s": "query($s: Int) { programStats(ids: [1], seconds: $s) { points { time } } }",
        "ids": "query($ids: [Int!]) { programStats(ids: $ids, seconds: 300) { id } }",
    }
    bases = {"n": st.integers(-3, 12_000), "id": st.sampled_from([map_id, 2**31 - 1]),
             "s": st.integers(-3, 1000), "ids": st.integers(0, 2**31 - 1)}  # fmt: skip

    @given(st.sampled_from(sorted(queries)), st.data())
    def one(name: str, data: st.DataObject) -> None:
        value = data.draw(numeric(bases[name]))
        if name == "ids" and data.draw(st.booleans()):
            value = [value]  # a list, or one value that graphql-core makes a list of
        query = queries[name]
        wire = {name: orjson.loads(json.dumps(value))}  # as the server decodes it
        verdict = coerced(query, wire)
        if isinstance(verdict, dict):
            assert cost_of(query, wire, sizes) == cost_of(query, verdict, sizes), (wire, verdict)
        if name not in ("n", "id"):
            return  # programStats would start the app's sampler: measured above only
        answer = send(app, {"query": query, "variables": wire})
        if isinstance(verdict, str):
            body = answer.json()  # nothing ran: no data (null or none), graphql-core's error
            assert body.get("data") is None and body["errors"][0]["message"] == verdict, body
        else:
            as_int = send(app, {"query": query, "variables": verdict})
            assert (answer.status_code, answer.json()) == (as_int.status_code, as_int.json())

    one()
