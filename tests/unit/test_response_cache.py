"""api.response_cache: answers live as long as their snapshot, and never outlive a mutation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import parse, print_ast

from devagent.api.response_cache import ResponseCache, cache_key


@dataclass(eq=False)
class Snap:
    """Stands for an inventory Snapshot: the cache only uses its identity and taken_at."""

    taken_at: float


def key(query: str, **variables: Any) -> Any:
    return cache_key(print_ast(parse(query)), {"query": query, "variables": variables})


def test_spacing_and_comments_do_not_count() -> None:
    assert key("{ a b }") == key("# poll 7\n{\n  a\n  b\n}") != key("{ b a }")


def test_same_snapshot_same_key_is_a_hit() -> None:
    cache, snap = ResponseCache(), Snap(1.0)
    body, gen = cache.lookup(snap, key("{ a }"))  # type: ignore[arg-type]
    assert body is None
    cache.store(snap, key("{ a }"), b"A", gen)  # type: ignore[arg-type]
    assert cache.lookup(snap, key("{ a }"))[0] == b"A"  # type: ignore[arg-type]
    assert cache.lookup(snap, key("{ b }"))[0] is None  # type: ignore[arg-type]
    assert cache.lookup(snap, key("{ a }", x=1))[0] is None  # type: ignore[arg-type]
    assert cache.hits == 1


def test_variables_are_keyed_in_any_order() -> None:
    q = print_ast(parse("{ q }"))
    first = cache_key(q, {"query": "{ q }", "variables": {"a": 1, "b": 2}})
    second = cache_key(q, {"query": "{ q }", "variables": {"b": 2, "a": 1}})
    assert first == second
    assert cache_key(q, {"query": "{ q }", "variables": {"a": 1}, "operationName": "Op"}) != first


def test_a_new_snapshot_drops_old_answers_and_an_older_one_cannot_come_back() -> None:
    cache, old, new = ResponseCache(), Snap(1.0), Snap(2.0)
    _, gen = cache.lookup(old, key("{ q }"))  # type: ignore[arg-type]
    cache.store(old, key("{ q }"), b"old", gen)  # type: ignore[arg-type]
    assert cache.lookup(new, key("{ q }"))[0] is None  # type: ignore[arg-type]
    cache.store(new, key("{ q }"), b"new", gen)  # type: ignore[arg-type]
    cache.store(old, key("{ late }"), b"late", gen)  # type: ignore[arg-type]
    assert cache.lookup(new, key("{ q }"))[0] == b"new"  # type: ignore[arg-type]
    assert cache.lookup(old, key("{ late }"))[0] is None  # type: ignore[arg-type]


def test_a_query_begun_before_a_mutation_cannot_store_its_answer() -> None:
    cache, snap = ResponseCache(), Snap(1.0)
    _, gen = cache.lookup(snap, key("{ q }"))  # type: ignore[arg-type]
    cache.clear()  # a mutation ran while the query executed
    cache.store(snap, key("{ q }"), b"stale", gen)  # type: ignore[arg-type]
    body, gen2 = cache.lookup(snap, key("{ q }"))  # type: ignore[arg-type]
    assert body is None and gen2 == gen + 1


def test_bounded_in_count_and_bytes() -> None:
    cache, snap = ResponseCache(max_entries=3, max_bytes=40), Snap(1.0)
    for i in range(5):
        cache.store(snap, key(f"{{ q{i} }}"), b"x" * 8, 0)  # type: ignore[arg-type]
    assert [cache.lookup(snap, key(f"{{ q{i} }}"))[0] is not None for i in range(5)] == [  # type: ignore[arg-type]
        False, False, True, True, True,
    ]  # fmt: skip
    cache.store(snap, key("{ huge }"), b"x" * 11, 0)  # type: ignore[arg-type]
    assert cache.lookup(snap, key("{ huge }"))[0] is None  # type: ignore[arg-type]
