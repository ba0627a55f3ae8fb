"""Parsed documents kept by their tokens, so a UI's poll is parsed once, not every time.

The explorer polls the same few operations every 2 s per tab; clients that make each text
distinct (a comment with a counter, other spacing) would otherwise pay graphql-core's parser
(~0.35 ms for Navigation) twice per request (once to measure it, once to find its plan) and
a print of the tree. Here a document is found by its token key: its text with comments,
whitespace and commas (which GraphQL ignores) removed and the rest split into runs of name
and number characters and single punctuators.

Two texts with the same key lex to the same tokens, so they are the same document: every
ignored character only separates tokens, punctuators delimit themselves, and a run of
`[_A-Za-z0-9.+-]` is kept whole (`1a` and `1 a` stay apart; `...on` and `... on` merely miss
each other). A text that has a string (`"`) or any other character gets no key and is parsed
as before: inside strings spacing matters.
"""

from __future__ import annotations

import re

from graphql import DocumentNode

from ..bpf.lru import Lru

_COMMENT = re.compile(r"#[^\n\r]*")
_FOREIGN = re.compile(r"[^ \t\r\n,\ufeff_A-Za-z0-9.+\-!$&()\[\]:=@{|}]")
_CHUNK = re.compile(r"[_A-Za-z0-9.+-]+|[!$&()\[\]:=@{|}]")
# Texts longer than this are rare (no UI sends one) and not kept.
MAX_KEYED_TEXT = 8 << 10


def token_key(text: str) -> str | None:
    """The key two texts share exactly when they are the same document, or None."""
    if len(text) > MAX_KEYED_TEXT or '"' in text:
        return None
    bare = _COMMENT.sub(" ", text)
    if _FOREIGN.search(bare):
        return None
    return " ".join(_CHUNK.findall(bare))


class DocumentCache(Lru[str, DocumentNode]):
    """Parsed documents by token key (bounded LRU). graphql-core never changes a document
    after parsing, so one tree serves every thread. A text without a key is never kept."""

    def __init__(self, max_documents: int = 64) -> None:
        super().__init__(max_documents)

    def get(self, key: str | None) -> DocumentNode | None:
        return None if key is None else super().get(key)

    def put(self, key: str | None, document: DocumentNode) -> None:
        if key is not None:
            super().put(key, document)
