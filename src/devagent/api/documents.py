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
import threading
from collections import OrderedDict

from graphql import DocumentNode

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


class DocumentCache:
    """Parsed documents by token key (bounded LRU). graphql-core never changes a document
    after parsing, so one tree serves every thread."""

    def __init__(self, max_documents: int = 64) -> None:
        self.max_documents = max_documents
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: str | None) -> DocumentNode | None:
        if key is None:
            return None
        with self._lock:
            document = self._documents.get(key)
            if document is not None:
                self._documents.move_to_end(key)
                self.hits += 1
            return document

    def put(self, key: str | None, document: DocumentNode) -> None:
        if key is None:
            return
        with self._lock:
            self._documents[key] = document
            while len(self._documents) > self.max_documents:
                self._documents.popitem(last=False)
