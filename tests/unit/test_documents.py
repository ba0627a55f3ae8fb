"""Token keys of documents: equal keys must mean equal documents, and a poll is parsed once."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError, parse, print_ast
from hypothesis import given, settings
from hypothesis import strategies as st

from devagent.api.documents import MAX_KEYED_TEXT, DocumentCache, token_key

NAVIGATION = "query Navigation { programs { id name } maps { id name } }"


def test_spacing_commas_and_comments_share_a_key() -> None:
    variants = [
        NAVIGATION,
        NAVIGATION + "\n# poll 17",
        "# first\nquery Navigation{programs{id,name}maps{id\tname}}\r\n",
        "\ufeffquery   Navigation {\n  programs { id, name }\n  maps { id name }\n}",
    ]
    assert len({token_key(v) for v in variants}) == 1
    assert token_key(NAVIGATION) is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("{ f(x: 1a) }", "{ f(x: 1 a) }"),  # a lexing error must not meet a valid text
        ("{ ab }", "{ a b }"),
        ("{ a(x: -1) }", "{ a(x: - 1) }"),
        ("{ ...F }", "{ .. .F }"),
    ],
)
def test_texts_that_lex_differently_have_different_keys(a: str, b: str) -> None:
    assert token_key(a) != token_key(b)


@pytest.mark.parametrize(
    "text",
    [
        '{ map(id: 1) { entries(keyFormat: "x") } }',  # spacing inside strings matters
        "{ prögrams { id } }",
        "{ programs { id } }" + " " * MAX_KEYED_TEXT,
        "{ programs { id } } ;",
    ],
)
def test_texts_without_a_safe_key_are_parsed_every_time(text: str) -> None:
    assert token_key(text) is None


def _outcome(text: str) -> str:
    """The printed document, or "error" (failed parses are never kept, so which error it is
    does not matter: only a valid document served for an invalid text, or another valid
    one, would be wrong)."""
    try:
        return print_ast(parse(text))
    except GraphQLError:
        return "error"


CHUNKS = ["{", "}", "(", ")", ":", "$", "!", "...", "..", ".", "@", "=", "[", "]", "|", "&",
          "query", "on", "id", "a1", "1", "-2", "1.5", "e3", "+", "-", "0x1"]  # fmt: skip
SEPARATORS = ["", " ", ",", "\n", "\t", "# note\n", "\r\n", "\ufeff"]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_equal_keys_parse_to_equal_documents(data: Any) -> None:
    """Texts made of the same pieces with other separators (or none, so pieces may merge):
    whenever the keys agree, graphql-core's outcome agrees too."""
    pieces = data.draw(st.lists(st.sampled_from(CHUNKS), min_size=1, max_size=12))
    texts = []
    for _ in range(2):
        seps = data.draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(pieces),
                                  max_size=len(pieces)))  # fmt: skip
        texts.append("".join(s + p for s, p in zip(seps, pieces, strict=True)))
    keys = [token_key(t) for t in texts]
    if keys[0] == keys[1]:
        assert _outcome(texts[0]) == _outcome(texts[1])


def test_equal_keys_for_real_documents() -> None:
    """The property above on documents that parse, with comments and commas moved about."""
    base = "query Q($id: Int!) { map(id: $id) { id ...F } } fragment F on Map { name keySize }"
    other = "query Q($id:Int!){map(id:$id){id,...F}}#c\nfragment F on Map{name,keySize}"
    assert token_key(base) == token_key(other)
    assert _outcome(base) == _outcome(other) and not _outcome(base).startswith("error")


def test_the_cache_keeps_the_newest_documents() -> None:
    cache = DocumentCache(max_documents=2)
    docs = {name: parse(f"{{ {name} }}") for name in ("a", "b", "c")}
    for name, document in docs.items():
        cache.put(token_key(f"{{ {name} }}"), document)
    assert cache.get(token_key("{ a }")) is None
    assert cache.get(token_key("{b}")) is docs["b"] and cache.get(token_key("{ c }")) is docs["c"]
    assert cache.get(None) is None and cache.hits == 2
