"""The arguments of a plan's root fields (api.fastpath), read as graphql-core reads them.

A plan covers the arguments UIs poll with: non-null Int and enum arguments, given as literals
or variables, and Boolean ones, given or left to a Boolean default. Anything else raises
Unsupported, and graphql-core executes the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLInt,
    GraphQLNonNull,
    IntValueNode,
    NullValueNode,
    Undefined,
    VariableNode,
)
from graphql.execution import values as _graphql_values

# graphql-core 3.3 keeps an SDL default as a literal, coerced when used; 3.2 keeps the value
# itself in GraphQLArgument.default_value.
_coerce_default_value: Callable[[Any], Any] | None = getattr(
    _graphql_values, "coerce_default_value", None
)

INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Unsupported(Exception):
    """The plan cannot answer this as graphql-core would: graphql-core executes it."""


def _argument(node: Any, variables: dict[str, Any], defaults: dict[str, Any]) -> Any:
    """A root argument's value, from a literal or a variable (Int, Boolean, enum and null
    literals only)."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            return variables[name]
        if name in defaults:
            return _argument(defaults[name], {}, {})
        raise Unsupported("missing variable")
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, EnumValueNode):
        return node.value
    raise Unsupported("argument kind")


def _default(definition: Any) -> Any:
    """The value graphql-core passes for an argument not given: its schema default
    (Undefined when it has none). graphql-core 3.3 keeps an SDL default as a literal,
    3.2 as the value."""
    if _coerce_default_value is None:
        return definition.default_value
    return _coerce_default_value(definition)


def root_args(
    field: Any, node: FieldNode, variables: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """The arguments of a root field as graphql-core passes them (by their Python names);
    non-null Int and enum arguments, given, and Boolean ones, given (true, false, null) or
    left to a Boolean default, are covered."""
    given = {arg.name.value: arg.value for arg in node.arguments or ()}
    if set(given) - set(field.args):
        raise Unsupported("unknown argument")
    args: dict[str, Any] = {}
    for name, definition in field.args.items():
        nullable = not isinstance(definition.type, GraphQLNonNull)
        kind = definition.type if nullable else definition.type.of_type
        if name not in given:
            if not nullable:
                raise Unsupported("missing argument")
            default = _default(definition)
            if default is Undefined:
                continue
            if kind is not GraphQLBoolean or type(default) is not bool:
                raise Unsupported("default of an argument other than Boolean")
            args[definition.out_name or name] = default
            continue
        value = _argument(given[name], variables, defaults)
        if kind is GraphQLBoolean:
            if type(value) is not bool and not (nullable and value is None):
                raise Unsupported("Boolean argument")
        elif nullable:
            raise Unsupported("argument type")
        elif kind is GraphQLInt:
            if type(value) is not int or not INT_MIN <= value <= INT_MAX:
                raise Unsupported("Int argument")
        elif isinstance(kind, GraphQLEnumType):
            if not isinstance(value, str) or value not in kind.values:
                raise Unsupported("enum argument")
            value = kind.values[value].value
        else:
            raise Unsupported("argument type")
        args[definition.out_name or name] = value
    return args
