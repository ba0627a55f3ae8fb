"""A GraphQL fuzzer over our own schema: operations drawn from the types, fields, arguments
and enums of schema.graphqls (with aliases, fragments, variables, wrong types, unknown names
and plain garbage mixed in), sent to the real app over the real kernel's objects. Whatever
comes in, the answer is never a 5xx and never slow, and the app keeps answering.

Writes stay disabled (the default), so generated mutations are answered, never applied.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from hypothesis import given
from hypothesis import strategies as st

from devagent.api import build_schema
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
