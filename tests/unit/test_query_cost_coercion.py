"""devagent.api.limits: the cost sees the values execution sees (issue 21, items 2 and 3).

graphql-core coerces `10000.0` to the Int 10000, a single `5` to the list `[5]` and fills in
defaults of any literal kind; the cost used to read the raw values and took `10000.0` for no
limit at all. And `programStats` is sized by its `ids` and `seconds`, where every series used
to count every program's whole history.
"""

from __future__ import annotations

from typing import Any

import pytest

from devagent.api import build_schema
from devagent.api.http import select_operation
from devagent.api.limits import CostMeter, parse_query
from devagent.api.list_sizes import HistoryBound
from tests.unit.test_limits import METER, SIZES  # the same host and meter


def cost(query: str, variables: dict[str, Any] | None = None, meter: CostMeter = METER) -> int:
    document = parse_query(query)
    operation = select_operation(document, None)
    assert operation is not None
    return meter.measure(document, operation, variables, SIZES).cost


ENTRIES = "query($n: Int) { map(id: 7) { entries(limit: $n) { key value } } }"
MAP_BY_ID = "query($id: Int!) { map(id: $id) { entries(limit: 500) { key } } }"


def test_a_float_variable_costs_what_its_int_costs() -> None:
    """`limit: 900.0` ran 900 entries while it was measured as no entries at all."""
    assert cost(ENTRIES, {"n": 900}) == 2 + 900 * 2
    assert cost(ENTRIES, {"n": 900.0}) == cost(ENTRIES, {"n": 900})
    assert cost(MAP_BY_ID, {"id": 7.0}) == cost(MAP_BY_ID, {"id": 7}) == 2 + 500
    assert cost(MAP_BY_ID, {"id": 8.0}) == 2 + 16  # map 8 holds at most 16 entries


@pytest.mark.parametrize("bad", [900.5, "900", True, 2**31, 1e40, [900], {"a": 1}])
def test_a_variable_graphql_core_refuses_counts_as_not_given(bad: Any) -> None:
    """graphql-core refuses these before anything runs; the rest of the operation is still
    measured (api.fastpath answers from the variables it uses)."""
    assert cost(ENTRIES, {"n": bad}) == cost(ENTRIES, {}) == 2 + 32 * 2


def test_defaults_of_any_literal_kind_are_coerced() -> None:
    lists = "query($ids: [Int!] = [1, 2, 3]) { programStats(ids: $ids) { id } }"
    assert cost(lists) == 1 + 3
    single = "query($ids: [Int!] = 4) { programStats(ids: $ids) { id } }"  # coerced to [4]
    assert cost(single) == 1 + 1
    assert cost(lists, {"ids": 9}) == 1 + 1  # a single value given for a list, too


def test_literal_arguments_are_coerced_by_their_type() -> None:
    assert cost("{ programStats(ids: 5) { id } }") == 1 + 1
    assert cost("{ programStats(ids: [5, 6]) { id } }") == 1 + 2
    # A float literal for an Int is a validation error: nothing runs, nothing is read.
    assert cost("{ map(id: 7.0) { entries(limit: 900) { key } } }") == 2


def test_program_stats_follow_ids_and_seconds() -> None:
    """One program over 5 minutes: 301 readings, at most (the history keeps 301)."""
    page = "{ programStats(ids: [1], seconds: 300) { id points { time cpuPercent } } }"
    assert cost(page) == 1 + 1 * (1 + 1 + 301 * 2)
    spark = "query($ids: [Int!]) { programStats(ids: $ids, seconds: 120) { points { time } } }"
    assert cost(spark, {"ids": list(range(40))}) == 1 + 40 * (1 + 122)
    assert cost(spark, {"ids": None}) == 1 + 100 * (1 + 122)  # every program
    assert cost(spark, {"ids": []}) == 1
    default = "{ programStats { points { time } } }"  # seconds = 300
    assert cost(default) == 1 + 100 * (1 + 301)
    refused = "{ programStats(seconds: 0) { points { time } } }"  # the resolver refuses
    assert cost(refused) == 1


def test_points_follow_the_servers_history() -> None:
    """Readings every 0.5 s kept for 60 s: 121 at most, however far back one asks."""
    meter = CostMeter(build_schema(), 10_000, HistoryBound(interval=0.5, kept=121))
    query = "{ programStats(ids: [1], seconds: $s) { points { time } } }"
    assert cost(query.replace("$s", "10"), meter=meter) == 1 + (1 + 10 * 2 + 2)
    assert cost(query.replace("$s", "3600"), meter=meter) == 1 + (1 + 121)
