"""The GraphQL operations the web UI sends, read from its own scripts, and values for their
variables.

The scripts are the one source of truth: a page's new query is checked against the server's
limits as soon as it is written, with nothing copied into the tests. Documents are the
template literals (`query ...`) of the UI and the string concatenations ("query ..." + ...)
of the GraphiQL page's examples. A document may splice in a string constant of the scripts
(`${STATS_FIELDS}`, from `export const STATS_FIELDS = "..."`); one built from any other
script value fails here, since what it sends could not be known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    ListValueNode,
    OperationDefinitionNode,
    ValueNode,
    VariableNode,
    parse,
)

import devagent.web

STATIC = Path(devagent.web.__file__).parent / "static"
_TEMPLATE = re.compile(r"`((?:query|mutation)\b[^`{]*\{[^`]*)`")  # not `query` in a comment
_STRING = r'"(?:[^"\\\n]|\\.)*"'
_CONCAT = re.compile(rf'"(?:query|mutation)\b(?:[^"\\\n]|\\.)*"(?:\s*\+\s*{_STRING})*')
_PIECE = re.compile(_STRING)
_CONSTANT = re.compile(rf"^(?:export\s+)?const\s+([A-Z][A-Z0-9_]*)\s*=\s*({_STRING});", re.M)
_SPLICE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@dataclass(frozen=True)
class UiOperation:
    where: str  # the script, relative to static/
    name: str
    kind: str  # "query" or "mutation"
    text: str

    def __str__(self) -> str:
        return f"{self.name} ({self.where})"


def _documents(text: str) -> Iterator[str]:
    yield from (m.group(1) for m in _TEMPLATE.finditer(text))
    for m in _CONCAT.finditer(text):
        yield "".join(json.loads(piece) for piece in _PIECE.findall(m.group(0)))


def _scripts() -> list[Path]:
    return [p for p in sorted(STATIC.rglob("*.js")) if "vendor" not in p.relative_to(STATIC).parts]


def _constants(scripts: list[Path]) -> dict[str, str]:
    """The scripts' upper-case string constants, which documents may splice in."""
    found: dict[str, str] = {}
    for path in scripts:
        for name, literal in _CONSTANT.findall(path.read_text()):
            found[name] = json.loads(literal)
    return found


def ui_operations() -> list[UiOperation]:
    """Every operation in the UI's scripts (the vendored libraries aside)."""
    found = []
    scripts = _scripts()
    constants = _constants(scripts)
    for path in scripts:
        where = str(path.relative_to(STATIC))
        for spliced in _documents(path.read_text()):
            text = _SPLICE.sub(lambda m: constants.get(m.group(1), m.group(0)), spliced)
            assert "${" not in text, f"{where}: a document built from script values: {text}"
            for op in parse(text).definitions:
                assert isinstance(op, OperationDefinitionNode) and op.name, (where, text)
                found.append(UiOperation(where, op.name.value, op.operation.value, text))
    return found


def _uses(value: ValueNode, key: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, VariableNode):
        yield value.name.value, key
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _uses(item, key + "[]")


def _fields(selections: Any) -> Iterator[FieldNode]:
    for sel in selections:
        if isinstance(sel, FieldNode):
            yield sel
        if getattr(sel, "selection_set", None) is not None:
            yield from _fields(sel.selection_set.selections)


def variables_for(text: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Values for a one-operation document's variables, by where each is used:
    `field.argument`, or `field.argument[]` for an item of a list literal."""
    (op,) = parse(text).definitions
    assert isinstance(op, OperationDefinitionNode)
    out: dict[str, Any] = {}
    for field in _fields(op.selection_set.selections):
        for arg in field.arguments or ():
            for var, key in _uses(arg.value, f"{field.name.value}.{arg.name.value}"):
                assert key in values, f"{op.name and op.name.value}: no value for ${var} ({key})"
                assert out.get(var, values[key]) == values[key], (var, key)
                out[var] = values[key]
    return out
