"""devagent.api.cost_memo: a kept measure is reused only while every size it read is the
same; whatever changes between snapshots, the memo answers exactly what a fresh measure
does."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from devagent.api import build_schema
from devagent.api.documents import token_key
from devagent.api.http import select_operation
from devagent.api.limits import CostMeter, Measure, parse_query
from devagent.api.list_sizes import ListSizes, MapGeometry
from tests.unit.test_limits import SIZES as BASE  # 100 programs, 200 maps, maps 7 and 8

QUERIES: list[tuple[str, dict[str, Any] | None]] = [
    ("query Navigation { programs { id name runCount } maps { id name isPinned } }", None),
    ("{ programs { id maps { id programs { id } } links { id pins } pins } }", None),
    ("{ links { id pins } maps { pins programs { id } } }", None),
    (
        "query($id: Int!, $n: Int) { map(id: $id) { entries(limit: $n) { key cpuValues } } }",
        {"id": 7, "n": 500},
    ),
    (
        "query($id: Int!, $n: Int) { map(id: $id) { entries(limit: $n) { key cpuValues } } }",
        {"id": 8, "n": 10},
    ),
    ("{ maps { entries(limit: 20) { key value cpuValues } } }", None),
    (
        "{ programs { ...P } } fragment P on Program { id maps { ...M } } "
        "fragment M on Map { id name flagNames }",
        None,
    ),
]


def variant(rng: random.Random) -> ListSizes:
    """BASE with one or two sizes changed (or none), as between two snapshots."""
    changes: dict[str, Any] = {}
    for name in rng.sample([f.name for f in dataclasses.fields(ListSizes)], rng.choice([0, 1, 2])):
        if name == "any_map":
            changes[name] = MapGeometry(rng.random() < 0.5, rng.choice([16, 1 << 20]))
        elif name == "by_id":
            changes[name] = {7: MapGeometry(rng.random() < 0.5, rng.choice([10, 1000])),
                             8: MapGeometry(True, 16)}  # fmt: skip
        else:
            changes[name] = getattr(BASE, name) + rng.choice([0, 1, 5])
    return dataclasses.replace(BASE, **changes)


def measure(meter: CostMeter, text: str, variables: Any, sizes: ListSizes, keyed: bool) -> Measure:
    document = parse_query(text)
    operation = select_operation(document, None)
    assert operation is not None
    key = token_key(text) if keyed else None
    return meter.measure(document, operation, variables, sizes, key)


def test_kept_measures_equal_fresh_ones_while_sizes_change() -> None:
    rng = random.Random(11)
    kept = CostMeter(build_schema(), max_entries_limit=10_000)
    fresh = CostMeter(build_schema(), max_entries_limit=10_000)
    reused = 0
    for _ in range(400):
        sizes = variant(rng)
        text, variables = rng.choice(QUERIES)
        hits = kept.memo._items.hits
        assert measure(kept, text, variables, sizes, True) == measure(
            fresh, text, variables, sizes, False
        ), (text, sizes)
        reused += kept.memo._items.hits - hits
    assert reused > 100  # unchanged sizes were answered from the memo


def test_a_measure_is_kept_per_operation_and_variables() -> None:
    meter = CostMeter(build_schema(), max_entries_limit=10_000)
    text = "query($n: Int) { map(id: 7) { entries(limit: $n) { key } } }"
    assert measure(meter, text, {"n": 5}, BASE, True).cost == 2 + 5
    assert measure(meter, text, {"n": 50}, BASE, True).cost == 2 + 50
    assert measure(meter, text + "\n# a comment", {"n": 5}, BASE, True).cost == 2 + 5
    assert meter.memo._items.hits == 1  # the same tokens and variables: kept


@pytest.mark.parametrize("variables", [{"n": 1 << 70}, {"n": {"deep": [1, 2]}}])
def test_unusual_variables_are_measured_every_time(variables: dict[str, Any]) -> None:
    meter = CostMeter(build_schema(), max_entries_limit=10_000)
    text = "query($n: Int) { map(id: 7) { entries(limit: $n) { key } } }"
    for _ in range(2):
        assert measure(meter, text, variables, BASE, True).cost == 2  # refused by the resolver
