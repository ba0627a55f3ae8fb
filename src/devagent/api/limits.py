"""Limits that keep a hostile query from tying up the server: depth and breadth.

Introspection (`__schema`, `__type`) is not counted: the playground's introspection query is
deep by nature and cheap to answer.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

MAX_FIELDS = 5000


def _measure(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    depth: int,
    seen: frozenset[str],
) -> tuple[int, int]:
    """(max depth, number of field selections) below a selection set."""
    if selection_set is None:
        return depth, 0
    deepest, fields = depth, 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value.startswith("__"):
                continue
            d, n = _measure(sel.selection_set, fragments, depth + 1, seen)
            deepest, fields = max(deepest, d), fields + n + 1
        elif isinstance(sel, InlineFragmentNode):
            d, n = _measure(sel.selection_set, fragments, depth, seen)
            deepest, fields = max(deepest, d), fields + n
        elif isinstance(sel, FragmentSpreadNode):
            name = sel.name.value
            frag = fragments.get(name)
            if frag is None or name in seen:  # cycles are reported by graphql-core itself
                continue
            d, n = _measure(frag.selection_set, fragments, depth, seen | {name})
            deepest, fields = max(deepest, d), fields + n
    return deepest, fields


def limits_rule(max_depth: int, max_fields: int = MAX_FIELDS) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper than `max_depth` fields or
    selecting more than `max_fields` fields in all (fragments expanded)."""

    class QueryLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self._fragments = {
                d.name.value: d
                for d in context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth, fields = _measure(node.selection_set, self._fragments, 0, frozenset())
            name = node.name.value if node.name else "the query"
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"{name} is nested {depth} levels deep; the limit is {max_depth}",
                        node,
                    )
                )
            if fields > max_fields:
                self.report_error(
                    GraphQLError(f"{name} selects {fields} fields; the limit is {max_fields}", node)
                )

    return QueryLimits
