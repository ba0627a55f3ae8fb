"""devagent.api.limits: the cost of an operation, measured on the real schema against list
sizes given here (a host with 100 programs and 200 maps), without running anything."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devagent.api import build_schema
from devagent.api.http import select_operation
from devagent.api.limits import (
    MAX_SAME_NAME,
    CostMeter,
    Measure,
    QueryRefused,
    check_cost,
    parse_query,
)
from devagent.api.list_sizes import ListSizes, MapGeometry

SIZES = ListSizes(
    programs=100, maps=200, links=10, maps_per_program=8, programs_per_map=3,
    links_per_program=1, attachments_per_program=2, pins_per_object=2, flags_per_map=3, cpus=4,
    any_map=MapGeometry(per_cpu=True, max_entries=1 << 20),
    by_id={7: MapGeometry(False, 1000), 8: MapGeometry(True, 16)},
)  # fmt: skip
METER = CostMeter(build_schema(), max_entries_limit=10_000)


def measure(query: str, variables: dict[str, Any] | None = None) -> Measure:
    document = parse_query(query)
    operation = select_operation(document, None)
    assert operation is not None
    return METER.measure(document, operation, variables, SIZES)


def test_lists_are_weighted_by_the_snapshot() -> None:
    assert measure("{ programs { id name } }") == Measure(1 + 100 * 2, 2)
    assert measure("{ maps { id programs { id } } }") == Measure(1 + 200 * (1 + 1 + 3), 3)
    # Each alias runs again, so it counts again.
    assert measure("{ a: maps { id } b: maps { id } }").cost == 2 * (1 + 200)


def test_entries_weigh_their_limit_bounded_by_the_map() -> None:
    page = "{ map(id: 7) { entries(limit: $n) { key value cpuValues } } }"
    query = "query($n: Int) " + page
    assert measure(query, {"n": 500}).cost == 1 + 1 + 500 * 3  # map 7 is not per-CPU
    assert measure(query, {"n": 5000}).cost == 1 + 1 + 1000 * 3  # max_entries 1000
    assert measure(query, {}).cost == 1 + 1 + 32 * 3  # the default limit
    assert measure(query, {"n": 99_999}).cost == 2  # refused by the resolver, reads nothing
    per_cpu = "{ map(id: 8) { entries(limit: 10) { key cpuValues } } }"
    assert measure(per_cpu).cost == 1 + 1 + 10 * (1 + 1 + 4)  # max_entries 16, 4 CPUs
    default = "query($n: Int = 20) { map(id: 7) { entries(limit: $n) { key } } }"
    assert measure(default).cost == 1 + 1 + 20


def test_fragments_are_measured_once_and_reused() -> None:
    """24 levels of fragments each spreading the next twice: 2^24 fields if expanded; the
    old limit rule expanded them (85 s). Measured once per definition it takes no time."""
    depth = 24
    query = "query { map(id: 7) { ...F0 } }\n" + "".join(
        f"fragment F{i} on Map {{ a{i}: id ...F{i + 1} ...F{i + 1} }}\n" for i in range(depth)
    ) + f"fragment F{depth} on Map {{ name }}\n"  # fmt: skip
    started = time.monotonic()
    with pytest.raises(QueryRefused, match=f"'name' is selected {2**depth} times"):
        measure(query)
    assert time.monotonic() - started < 1.0
    # Distinct fields through fragments: the cost is what execution would do, exactly.
    query = ("{ programs { ...P } } fragment P on Program { id maps { ...M } } "
             "fragment M on Map { id name }")  # fmt: skip
    assert measure(query).cost == 1 + 100 * (1 + 1 + 8 * 2)


def test_repeated_names_and_nesting_are_refused_before_validation() -> None:
    many = "{ maps { " + "programs { id } " * (MAX_SAME_NAME + 1) + "} }"
    with pytest.raises(QueryRefused, match="'programs' is selected 21 times"):
        measure(many)
    deep = "{ __schema { types { " + "ofType { " * 70 + "name" + " }" * 70 + " } } }"
    with pytest.raises(QueryRefused, match="nested more than 64 levels"):
        measure(deep)


def test_introspection_is_weighted_by_the_schema_but_not_by_depth() -> None:
    """The playground's introspection query runs; a deep walk through type references is
    not free."""
    from graphql import get_introspection_query

    full = measure(get_introspection_query())
    assert full.depth == 0 and 1000 < full.cost < 200_000
    # Each level of `type { fields }` multiplies by the mean number of fields of a type.
    walk = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    deeper = ("{ __schema { types { fields { type { fields { type { fields { type { fields "
              "{ type { fields { name } } } } } } } } } } } }")  # fmt: skip
    assert measure(deeper).cost > 20 * measure(walk).cost
    assert measure(deeper).cost > 200_000


def test_check_cost_names_the_limits() -> None:
    document = parse_query("{ maps { programs { maps { id } } } }")
    operation = select_operation(document, None)
    assert operation is not None
    with pytest.raises(QueryRefused, match="nested 4 levels deep; the limit is 2"):
        check_cost(METER, document, operation, None, SIZES, max_cost=10**9, max_depth=2)
    with pytest.raises(QueryRefused, match=r"about 5601 values .* the limit is 100: .*"
                                           "--max-query-cost"):  # fmt: skip
        check_cost(METER, document, operation, None, SIZES, max_cost=100, max_depth=12)


def test_too_many_tokens_is_a_syntax_error() -> None:
    from graphql import GraphQLError

    with pytest.raises(GraphQLError, match="more than 20000 tokens"):
        parse_query("{ maps { " + "id " * 30_000 + "} }")


def test_sizes_read_only_what_the_measure_needs() -> None:
    """`{ programs { id } }` is measured with the ids alone: no program info, link or pin
    is read for it (they are, once a query selects lists that need them)."""
    from devagent.bpf.pins import PinIndex
    from devagent.model.snapshot import Snapshot, Sources

    read: list[str] = []

    def part(name: str, value: Any) -> Any:
        def get(*_: Any) -> Any:
            read.append(name)
            return value

        return get

    snap = Snapshot(Sources(
        program_ids=part("program_ids", [1, 2, 3]), programs=part("programs", ({}, {})),
        map_ids=part("map_ids", [4]), maps=part("maps", ({}, {})),
        links=part("links", ({}, {})), pins=part("pins", PinIndex("")),
    ))  # fmt: skip
    sizes = ListSizes.of(snap, cpus=2)
    document = parse_query("{ programs { id } }")
    operation = select_operation(document, None)
    assert operation is not None
    assert METER.measure(document, operation, None, sizes).cost == 1 + 3  # the list, 3 ids
    assert "programs" not in read and "links" not in read and "pins" not in read
    document = parse_query("{ programs { maps { id } } }")
    operation = select_operation(document, None)
    assert operation is not None
    METER.measure(document, operation, None, sizes)
    assert "programs" in read


def test_attachments_are_weighted_by_the_most_any_program_has() -> None:
    # Program.attachments has one size of its own (model.attachments, exact per snapshot):
    # without it the list would count as one item, and 200 cgroup attachments per program
    # would go unmeasured.
    assert measure("{ programs { attachments { kind target } } }") == Measure(
        1 + 100 * (1 + 2 * 2), 3
    )
