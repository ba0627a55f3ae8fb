"""The plans (api.fastpath) against graphql-core: for randomised selections of the schema's
fields over real kernel objects, the bytes are identical, errors of root resolvers
included, and everything a plan does not cover falls back to graphql-core."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from ariadne import graphql_sync
from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    parse,
)

from devagent.api import build_schema
from devagent.api.context import RequestContext
from devagent.api.entries import EntryPager
from devagent.api.fastpath import FastPath
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.conftest import PacketFixture

SCHEMA = build_schema()
# Fields that read the kernel when resolved rather than from the request's snapshot: run
# twice (plan, then graphql-core) they may differ while other processes change the maps.
LIVE = {
    "entriesCount",
    "frozen",
    "eventsPerSecond",
    "cpuPercent",
    "avgRunTimeNs",
    "recursionMissesPerSecond",
}  # rates: the sampler moves on between the two runs
RULES: list[Any] = []  # the server validates with graphql-core's own rules (cost is measured apart)


def named(type_: GraphQLOutputType) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


class QueryMaker:
    """Random operations over the schema: scalar and list fields of the object types,
    nested up to a depth, with aliases, repeated fields and fragments now and then."""

    def __init__(self, schema: GraphQLSchema, rng: random.Random, ids: dict[str, list[int]]):
        self.schema = schema
        self.rng = rng
        self.ids = ids
        self.fragments: list[str] = []
        self.roots = ["programs", "maps", "links", "program", "map", "connectedGraph"]
        if ids["link"]:
            self.roots.append("link")

    def selection(self, type_: GraphQLObjectType, depth: int) -> str:
        rng = self.rng
        names = [n for n, f in type_.fields.items() if not f.args and n not in LIVE]
        picked = rng.sample(names, k=rng.randint(1, min(len(names), 6)))
        if rng.random() < 0.2:
            picked.append("__typename")
        parts = []
        for name in picked:
            field = type_.fields.get(name)
            inner = named(field.type) if field else None
            if isinstance(inner, GraphQLObjectType):
                if depth <= 0:
                    continue
                sub = self.selection(inner, depth - 1)
                text = f"{name} {{ {sub} }}"
            else:
                text = name
            if rng.random() < 0.15:
                text = f"a{rng.randint(0, 9)}_{name}: {text}"
            parts.append(text)
            if rng.random() < 0.1:
                parts.append(text)  # the same field twice: merged
        if rng.random() < 0.15 and parts:
            parts.append(f"... on {type_.name} {{ {rng.choice(parts)} }}")
        if rng.random() < 0.1 and parts:
            frag = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {frag} on {type_.name} {{ {rng.choice(parts)} }}")
            parts.append(f"...{frag}")
        return " ".join(parts) or "id"

    def operation(self) -> tuple[str, dict[str, Any]]:
        self.fragments = []
        rng = self.rng
        query = self.schema.query_type
        assert query is not None
        roots = []
        variables: dict[str, Any] = {}
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(self.roots)
            inner = named(query.fields[name].type)
            sub = self.selection(inner, rng.randint(0, 2))
            if name in ("program", "map", "link"):
                pool = self.ids[name]
                var = f"v{len(variables)}"
                variables[var] = rng.choice(pool)
                roots.append((f"{name}(id: ${var})", sub, f"${var}: Int!"))
            elif name == "connectedGraph":
                kind = rng.choice(["program", "map"])
                frm = rng.choice(self.ids[kind])
                roots.append((f"{name}(from: {frm}, fromType: {kind.upper()})", sub, ""))
            else:
                roots.append((name, sub, ""))
        decls = ", ".join(d for _, _, d in roots if d)
        header = f"query Q({decls})" if decls else "query Q"
        body = " ".join(f"r{i}: {field} {{ {sub} }}" for i, (field, sub, _) in enumerate(roots))
        return f"{header} {{ {body} }} " + " ".join(self.fragments), variables


def both(fast: FastPath, ctx: RequestContext, data: dict[str, Any]) -> tuple[Any, bytes]:
    """(the plan's answer or None, graphql-core's answer as bytes)."""
    planned = fast.run(data, ctx, parse(data["query"]))
    _, theirs = graphql_sync(SCHEMA, data, context_value=ctx, validation_rules=RULES)
    return None if planned is None else planned[0], orjson.dumps(theirs)


@pytest.fixture
def context(packet_fixture: PacketFixture) -> RequestContext:
    inventory = Inventory(packet_fixture.bpf_dir, max_age=3600)
    return RequestContext(Settings(bpf_dir=packet_fixture.bpf_dir), inventory,
                          EntryPager(inventory), inventory.snapshot())  # fmt: skip


def test_random_operations_answer_byte_for_byte_as_graphql_core(
    context: RequestContext, packet_fixture: PacketFixture
) -> None:
    snap = context.snapshot
    ids = {"program": sorted(snap.programs), "map": sorted(snap.maps),
           "link": sorted(snap.links)}  # fmt: skip
    fast = FastPath(SCHEMA, RULES)
    rng = random.Random(20261125)
    maker = QueryMaker(SCHEMA, rng, ids)
    answered = 0
    for i in range(300):
        query, variables = maker.operation()
        data = {"query": query, "variables": variables}
        ours, theirs = both(fast, context, data)
        if ours is not None:
            assert orjson.dumps(ours) == theirs, (i, query, variables)
            answered += 1
    # Most random operations are covered (the rest are invalid: graphql-core reports them).
    assert answered >= 250, answered


EXPLORER = {
    "Navigation": "query Navigation { programs { id error name type tag runTime runCount "
    "btfId } maps { id error name type flags isPinned keySize valueSize maxEntries } }",
    "GetProgram": "query GetProgram($programId: Int!) { program(id: $programId) { id name "
    "type tag runTime runCount btfId maps { id name type } error tasks { pid fd type name "
    "probeOffset probeAddr } } }",
    "GetMap": "query GetMap($mapId: Int!) { map(id: $mapId) { id error name type flags "
    "isPinned pins keySize valueSize maxEntries entriesCount isPerCPU isLookupSupported "
    "programs { id name type } } }",
    "ConnectedGraph": "query ConnectedGraph($id: Int!, $type: IdType!) { connectedGraph(from:"
    " $id, fromType: $type) { programs { id type name maps { id } } maps { id type name } } }",
}


def test_the_explorer_operations_take_the_plan(
    context: RequestContext, packet_fixture: PacketFixture
) -> None:
    prog = packet_fixture.obj.prog_ids["count_packets"]
    map_id = packet_fixture.obj.map_ids["flows"]
    variables = {
        "Navigation": {},
        "GetProgram": {"programId": prog},
        "GetMap": {"mapId": map_id},
        "ConnectedGraph": {"id": map_id, "type": "MAP"},
    }
    fast = FastPath(SCHEMA, RULES)
    for name, query in EXPLORER.items():
        data = {"query": query, "variables": variables[name], "operationName": name}
        ours, theirs = both(fast, context, data)
        assert ours is not None, name
        assert orjson.dumps(ours) == theirs, name
    assert fast.answered == len(EXPLORER)


@pytest.mark.parametrize(
    "query",
    [
        "{ programs { id name @include(if: true) } }",  # directives
        "{ maps { id entries(limit: 2) { key } } }",  # arguments below the root
        "{ __schema { queryType { name } } }",  # introspection
        "{ program(id: 4000000000) { id } }",  # an Int out of range: graphql-core's error
        "query A { maps { id } } query B { programs { id } }",  # which operation?
        "{ nosuchfield }",  # invalid: graphql-core reports it
        'mutation { pinMap(id: 1, path: "x") { error } }',
    ],
)
def test_what_the_plan_does_not_cover_falls_back(context: RequestContext, query: str) -> None:
    fast = FastPath(SCHEMA, RULES)
    try:
        document = parse(query)
    except GraphQLError:
        return  # refused before any plan (the endpoint answers 400)
    assert fast.run({"query": query}, context, document) is None
    assert fast.answered == 0


def test_a_root_resolver_error_is_graphql_cores_and_runs_once(
    context: RequestContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id that does not exist (the common failure: a UI polls a program just unloaded):
    the plan answers with graphql-core's error (message, location, path; the whole data
    null for a non-null field, the field null otherwise) and its resolver runs once."""
    import devagent.api.resolvers as resolvers

    calls = {"n": 0}
    real = resolvers.resolve_program

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(SCHEMA.query_type.fields["program"], "resolve", counting)  # type: ignore[union-attr]
    gone = max(context.snapshot.program_ids, default=0) + 100_000
    fast = FastPath(SCHEMA, RULES)
    queries = (
        f"{{ program(id: {gone}) {{ id name }} maps {{ id }} }}",
        "query Q($p: Int!) { a: maps { id } b: program(id: $p) { id } }",
    )
    for query in queries:
        data = {"query": query, "variables": {"p": gone}}
        before = calls["n"]
        planned = fast.run(data, context, parse(query))
        assert planned is not None and calls["n"] == before + 1  # the plan's one call
        answer, errors = planned
        assert answer["data"] is None and "not found" in answer["errors"][0]["message"]
        assert [e.message for e in errors] == [e["message"] for e in answer["errors"]]
        _, theirs = graphql_sync(SCHEMA, data, context_value=context)
        assert orjson.dumps(answer) == orjson.dumps(theirs)


def test_comment_variants_are_answered_and_syntax_errors_refused(
    packet_fixture: PacketFixture,
) -> None:
    """Through the /query endpoint: polls that differ only in a comment (as some clients
    make every text distinct) get the bytes graphql-core gives, executed once per snapshot
    by a plan and then served by the response cache (keyed by the printed document); a
    syntax error is refused every time."""
    import devagent.api.http as http

    inventory = Inventory(packet_fixture.bpf_dir, max_age=3600)
    endpoint = http.GraphQLEndpoint(
        SCHEMA, Settings(bpf_dir=packet_fixture.bpf_dir), inventory, EntryPager(inventory)
    )
    navigation = "query Navigation { programs { id name type } maps { id name keySize } }"
    bodies = set()
    for i in range(5):
        status, body = endpoint.respond({"query": f"{navigation}\n# poll {i}"}, False)
        assert status == 200
        bodies.add(body)
    assert endpoint.fastpath.answered == 1 and endpoint.responses.hits == 4
    assert len(bodies) == 1
    ctx = RequestContext(endpoint.settings, inventory, endpoint.pager, inventory.snapshot())
    _, theirs = graphql_sync(SCHEMA, {"query": navigation}, context_value=ctx)
    assert bodies == {orjson.dumps(theirs)}
    for _ in range(2):
        status, body = endpoint.respond({"query": navigation.replace("{ id", "{ 1a")}, False)
        assert status == 400 and b"Syntax Error" in body


@pytest.mark.parametrize(
    ("args", "variables"),
    [
        ("", {}),
        ("(includeAgentOwn: false)", {}),
        ("(includeAgentOwn: true)", {}),
        ("(includeAgentOwn: null)", {}),
        ("(includeAgentOwn: $x)", {"x": False}),
        ("(includeAgentOwn: $x)", {"x": None}),
    ],
)
def test_the_agent_own_filter_takes_the_plan(
    packet_fixture: PacketFixture, args: str, variables: dict[str, Any]
) -> None:
    """The lists' optional Boolean argument, given or left to its default, is answered by
    the plan as graphql-core answers it (an argument the plan did not cover would send every
    UI poll to graphql-core), over a snapshot holding iterators of its own."""
    from devagent.bpf.iter.walkers import Walkers

    iterators = Walkers()
    iterators.start()
    try:
        if iterators.programs is None:
            pytest.skip(f"the iterators cannot be loaded here: {iterators.problems}")
        inventory = Inventory(packet_fixture.bpf_dir, max_age=3600, iterators=iterators)
        ctx = RequestContext(Settings(bpf_dir=packet_fixture.bpf_dir), inventory,
                             EntryPager(inventory), inventory.snapshot())  # fmt: skip
        decl = "($x: Boolean)" if "$x" in args else ""
        query = (f"query Q{decl} {{ programs{args} {{ id name agentOwn }} "
                 f"maps{args} {{ id agentOwn }} links{args} {{ id agentOwn }} }}")  # fmt: skip
        fast = FastPath(SCHEMA, RULES)
        ours, theirs = both(fast, ctx, {"query": query, "variables": variables})
        assert ours is not None and fast.answered == 1
        assert orjson.dumps(ours) == theirs
        own = iterators.own_ids()
        listed = {p["id"]: p["agentOwn"] for p in ours["data"]["programs"]}
        if "false" in args or variables.get("x") is False:
            assert not own.programs & listed.keys() and not any(listed.values())
        else:
            assert all(listed[i] for i in own.programs)
    finally:
        iterators.close()


def test_kept_leaves_follow_the_kernel_across_snapshots(
    packet_fixture: PacketFixture, stats_enabled: Any
) -> None:
    """The memoised leaves (api.info_memo) answer as graphql-core does on every new snapshot:
    a program whose counters moved, a map created and one freed between two polls; and the
    objects that did not change are answered from the memo (not recomputed)."""
    from devagent.api.info_memo import InfoMemo
    from devagent.bpf.maps import create_map
    from devagent.bpf.names import MAP_TYPE_IDS

    inventory = Inventory(packet_fixture.bpf_dir, max_age=0)
    fast = FastPath(SCHEMA, RULES)
    data = {"query": EXPLORER["Navigation"], "operationName": "Navigation"}
    hits = 0
    real_get = InfoMemo.get

    def counting_get(self: InfoMemo, infos: Any) -> Any:
        nonlocal hits
        found = real_get(self, infos)
        hits += found is not None
        return found

    prog = packet_fixture.obj.prog_ids["count_packets"]
    doomed = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name="memo_doomed")
    born = None
    runs = []
    try:
        InfoMemo.get = counting_get  # type: ignore[method-assign]
        for step in range(4):
            ctx = RequestContext(Settings(bpf_dir=packet_fixture.bpf_dir), inventory,
                                 EntryPager(inventory), inventory.snapshot())  # fmt: skip
            ours, theirs = both(fast, ctx, data)
            assert ours is not None
            assert orjson.dumps(ours) == theirs, step
            runs.append({p["id"]: p["runCount"] for p in ours["data"]["programs"]})
            names = {m["name"] for m in ours["data"]["maps"]}
            if step == 1:
                assert "memo_doomed" in names and "memo_born" not in names
                doomed.close()
                born = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 4, name="memo_born")
                packet_fixture.pump(5)
            if step == 2:
                assert "memo_born" in names and "memo_doomed" not in names
    finally:
        InfoMemo.get = real_get  # type: ignore[method-assign]
        doomed.close()
        if born is not None:
            born.close()
    assert runs[2][prog] >= runs[1][prog] + 5  # the moved counter is answered, not the kept one
    assert hits > 0  # unchanged objects came from the memo
