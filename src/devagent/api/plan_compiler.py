"""Compiling a selection into closures that answer as graphql-core would (api.fastpath).

Collection of fields (aliases, repeated fields, fragments) follows graphql-core's order;
leaves are serialised with the same scalar rules; objects are built by generated dict
displays. Whatever this does not cover raises Unsupported, and the request goes to
graphql-core.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    SelectionSetNode,
)

from .nodes import InfoField, NodeAttr
from .object_memo import new_memo, remember

Complete = Callable[[Any, Any], Any]  # (value, info) -> response value
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Unsupported(Exception):
    """The plan cannot answer this (yet): let graphql-core execute it."""


# ---------------------------------------------------------------- leaves


def _checked(scalar: GraphQLScalarType) -> Callable[[Any], Any]:
    """The scalar's own serialisation; a value it refuses is an error graphql-core reports."""
    serialize = scalar.serialize

    def checked(value: Any) -> Any:
        try:
            return serialize(value)
        except (GraphQLError, TypeError, ValueError):
            raise Unsupported("a leaf graphql-core would report as an error") from None

    return checked


def _scalar(scalar: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> Complete:
    """Completion of a scalar field in one call: the common value types are answered as
    they are (what serialize would return), anything else goes through serialize."""
    if isinstance(scalar, GraphQLEnumType):
        raise Unsupported("enum output")
    checked = _checked(scalar)

    def missing() -> None:
        if non_null:
            raise Unsupported("null in a non-null field")

    if scalar is GraphQLInt:

        def as_int(value: Any, _info: Any) -> Any:
            if type(value) is int and INT_MIN <= value <= INT_MAX:
                return value
            return missing() if value is None else checked(value)

        return as_int
    if scalar is GraphQLFloat:

        def as_float(value: Any, _info: Any) -> Any:
            if type(value) is float and math.isfinite(value):
                return value
            return missing() if value is None else checked(value)

        return as_float
    exact = {GraphQLString: str, GraphQLBoolean: bool}.get(scalar)

    def as_leaf(value: Any, _info: Any) -> Any:
        if type(value) is exact:
            return value
        return missing() if value is None else checked(value)

    return as_leaf


# ---------------------------------------------------------------- field collection


def collect(
    parent: GraphQLObjectType,
    selection_sets: Sequence[SelectionSetNode],
    fragments: dict[str, FragmentDefinitionNode],
) -> OrderedDict[str, list[FieldNode]]:
    """Fields by response key in first-occurrence order, as graphql-core collects them
    (a named fragment is expanded once per collection, the first time it is spread)."""
    fields: OrderedDict[str, list[FieldNode]] = OrderedDict()
    visited: set[str] = set()

    def walk(selection_set: SelectionSetNode) -> None:
        for sel in selection_set.selections:
            if sel.directives:
                raise Unsupported("directives")
            if isinstance(sel, FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                fields.setdefault(key, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                _check_condition(sel.type_condition, parent)
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in visited:
                    continue
                visited.add(name)
                frag = fragments.get(name)
                if frag is None or frag.directives or frag.variable_definitions:
                    raise Unsupported("fragment")
                _check_condition(frag.type_condition, parent)
                walk(frag.selection_set)
            else:
                raise Unsupported("selection kind")

    for selection_set in selection_sets:
        walk(selection_set)
    return fields


def _check_condition(condition: Any, parent: GraphQLObjectType) -> None:
    if condition is not None and condition.name.value != parent.name:
        raise Unsupported("fragment on another type")


# ---------------------------------------------------------------- compilation


class Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments

    def object_fields(
        self, parent: GraphQLObjectType, nodes: Sequence[FieldNode]
    ) -> list[tuple[str, Callable[[Any, Any], Any], Complete, str | None, bool]]:
        """(response key, resolve, complete, scalar name or None, non-null) per collected
        field of an object below the root; fields with arguments are not covered."""
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        out: list[tuple[str, Callable[[Any, Any], Any], Complete, str | None, bool]] = []
        for key, field_nodes in collect(parent, sets, self.fragments).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                out.append((key, _constant(parent.name), _identity, None, True))
                continue
            if name.startswith("__"):
                raise Unsupported("introspection")
            field = parent.fields.get(name)
            if field is None or any(n.arguments for n in field_nodes):
                raise Unsupported("field arguments")
            resolve = field.resolve or _default_resolver(name)
            leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            scalar = leaf.name if isinstance(leaf, GraphQLScalarType) else None
            non_null = isinstance(field.type, GraphQLNonNull)
            out.append((key, resolve, self.complete(field.type, field_nodes), scalar, non_null))
        return out

    def signature(self, type_: GraphQLOutputType, nodes: Sequence[FieldNode]) -> str:
        """A canonical text of what completing `nodes` as `type_` answers: equal for two
        selections exactly when they give the same response for the same value."""
        inner: Any = type_
        wrappers = ""
        while isinstance(inner, GraphQLNonNull | GraphQLList):
            wrappers += "!" if isinstance(inner, GraphQLNonNull) else "["
            inner = inner.of_type
        if not isinstance(inner, GraphQLObjectType):
            return f"{wrappers}{inner.name}"
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        parts = []
        for key, field_nodes in collect(inner, sets, self.fragments).items():
            name = field_nodes[0].name.value
            field = inner.fields.get(name)
            sub = self.signature(field.type, field_nodes) if field is not None else ""
            parts.append(f"{key}={name}{sub}")
        return f"{wrappers}{inner.name}{{{','.join(parts)}}}"

    def complete(self, type_: GraphQLOutputType, nodes: Sequence[FieldNode]) -> Complete:
        """The function turning a resolved value into the response value of this type."""
        non_null = isinstance(type_, GraphQLNonNull)
        inner_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner_type, GraphQLScalarType | GraphQLEnumType):
            return _scalar(inner_type, non_null)  # one call per leaf: the hot path
        if isinstance(inner_type, GraphQLList):
            item = self.complete(inner_type.of_type, nodes)

            def as_list(value: Any, info: Any) -> Any:
                if value is None:
                    if non_null:
                        raise Unsupported("null in a non-null field")
                    return None
                if isinstance(value, str | bytes | dict):
                    raise Unsupported("not a list")
                if build is not None:  # objects: their builder called directly
                    out = [item(v, info) if v is None else build(v, info) for v in value]
                    if warm is not None:
                        warm[0] = True  # a list of them was built: keep their answers now
                    return out
                return [item(v, info) for v in value]

            build = getattr(item, "build", None)
            warm = getattr(build, "warm", None)
            return as_list
        if isinstance(inner_type, GraphQLObjectType):
            build = _object_builder(self.object_fields(inner_type, nodes))

            def as_object(value: Any, info: Any) -> Any:
                if value is None:
                    if non_null:
                        raise Unsupported("null in a non-null field")
                    return None
                return build(value, info)

            as_object.build = build  # type: ignore[attr-defined]
            return as_object
        raise Unsupported("abstract type")


# Inline checks of the values every scalar serialises as they are (else: the full path).
_FAST_CHECKS = {
    "String": "type(_v) is str",
    "Boolean": "type(_v) is bool",
    "Int": f"type(_v) is int and {INT_MIN} <= _v <= {INT_MAX}",
    "Float": "type(_v) is float and _v - _v == 0.0",  # finite: inf - inf and nan are not 0
}


def _object_builder(
    fields: Sequence[tuple[str, Callable[[Any, Any], Any], Complete, str | None, bool]],
) -> Callable[[Any, Any], dict[str, Any]]:
    """A function building one object's response dict with a dict display: generated
    source (like dataclasses' __init__), because a loop over the fields costs about twice as
    much per field, and a Navigation has ~17 000 of them. Keys are GraphQL names (letters,
    digits, underscores), so their repr is a plain literal.

    Resolvers that only read the node (NodeAttr) or its kernel info (InfoField) are
    inlined: the info is read once per object, and a leaf whose value is already what its
    scalar serialises to is taken as it is (the same test as in _scalar).

    Where every field is a leaf and all but a few come from the node's one kernel info, an
    object seen again unchanged (the same info object, as kept across snapshots, and the
    same values of the other fields) is answered with bytes serialised once and kept under
    them (api.object_memo; an orjson.Fragment: answers are only ever serialised by orjson)."""
    names: dict[str, Any] = {}
    infos: dict[str, str] = {}  # node attribute -> local variable holding it
    values: dict[int, str] = {}  # field -> expression of its resolved value
    others: list[int] = []  # fields that depend on more than the info (memo key parts)
    for i, (_key, resolve, _complete, _scalar, _non_null) in enumerate(fields):
        names[f"r{i}"] = resolve
        if isinstance(resolve, NodeAttr) and resolve.name.isidentifier():
            values[i] = f"value.{resolve.name}"
            if resolve.name not in ("id", "error"):  # given by the info (api.nodes)
                others.append(i)
        elif isinstance(resolve, InfoField) and resolve.attr.isidentifier():
            local = infos.setdefault(resolve.attr, f"i_{len(infos)}")
            names[f"g{i}"], names[f"m{i}"] = resolve.getter, resolve.missing
            values[i] = f"(m{i} if {local} is None else g{i}({local}))"
        else:
            values[i] = f"r{i}(value, info)"
            if not getattr(resolve, "constant", False):
                others.append(i)
    reads = "".join(f"    {local} = value.{attr}\n" for attr, local in infos.items())
    plain = f"def plain(value, info):\n{reads}    return {_dict_display(fields, values, names)}\n"
    memo = (len(infos) == 1 and len(others) <= 3
            and all(scalar is not None or complete is _identity
                    for _, _, complete, scalar, _ in fields))  # fmt: skip
    if not memo:
        source = plain + "build = plain\n"
    else:
        names["memo"], names["remember"] = new_memo(), remember
        names["fragment"], names["dumps"] = orjson.Fragment, orjson.dumps
        (info_local,) = infos.values()
        pre = "".join(f"    x{i} = {values[i]}\n" for i in others)
        key = ", ".join([f"id({info_local})", *(f"x{i}" for i in others)])
        # A selection's first list is built plainly (a one-off query pays nothing for
        # the memo); from its second on, answers are serialised, kept, and reused.
        names["warm"] = [False]
        source = plain + (
            f"def build(value, info):\n"
            f"    if not warm[0]:\n        return plain(value, info)\n{reads}"
            f"    if {info_local} is None:\n        return plain(value, info)\n{pre}"
            f"    key = ({key},)\n"
            f"    try:\n        hit = memo.get(key)\n"
            f"    except TypeError:\n        return plain(value, info)\n"  # unhashable
            f"    if hit is not None and hit[0] is {info_local}:\n        return hit[1]\n"
            f"    answer = fragment(dumps(plain(value, info)))\n"
            f"    remember(memo, key, ({info_local}, answer))\n"
            f"    return answer\n"
            f"build.warm = warm\n"
        )
    exec(compile(source, "<fastpath>", "exec"), names)
    build: Callable[[Any, Any], dict[str, Any]] = names["build"]
    return build


def _dict_display(
    fields: Sequence[tuple[str, Callable[[Any, Any], Any], Complete, str | None, bool]],
    values: dict[int, str],
    names: dict[str, Any],
) -> str:
    """`{key: completed value, ...}` for the fields, each value given as an expression."""
    items = []
    for i, (key, _resolve, complete, scalar, non_null) in enumerate(fields):
        names[f"c{i}"] = complete
        value = values[i]
        check = _FAST_CHECKS.get(scalar or "")
        if check is not None and not non_null:
            check = f"_v is None or {check}"  # a null in a nullable field is answered as is
        if check is None:
            items.append(f"{key!r}: c{i}({value}, info)")
        else:
            items.append(f"{key!r}: (_v if ({check.replace('_v', '(_v := ' + value + ')', 1)}) "
                         f"else c{i}(_v, info))")  # fmt: skip
    return "{" + ", ".join(items) + "}"


def _constant(value: str) -> Callable[[Any, Any], Any]:
    def constant(_source: Any, _info: Any) -> str:
        return value

    # The same for every object: not part of the memo key (see _object_builder).
    constant.constant = True  # type: ignore[attr-defined]
    return constant


def _identity(value: Any, _info: Any) -> Any:
    return value


def _default_resolver(name: str) -> Callable[[Any, Any], Any]:
    """graphql-core's default: a key of a dict, else an attribute (not a method)."""

    def resolve(source: Any, _info: Any) -> Any:
        value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
        if callable(value):
            raise Unsupported("callable default-resolved value")
        return value

    return resolve
