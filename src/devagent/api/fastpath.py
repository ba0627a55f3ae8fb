"""Plans for the read queries UIs poll: answers exactly as graphql-core's, at a tenth of the
cost. The one seam between the API and a second way of executing; graphql-core is the
fallback for everything a plan does not cover.

Why: graphql-core resolves each field through its generic machinery (an info object, a path,
completion by type): ~2.5 µs per field, so the explorer's Navigation over 1000 programs and
1000 maps (~17 000 fields) took ~45 ms of CPU, three times that poll's 15 ms budget
(docs/PERFORMANCE.md). A plan is made once per document: plain closures that call the same
resolvers, serialise leaves by the same scalar rules and build the same dicts in the same key
order (~4 ms for that Navigation). Kept between requests: the plans, and for the few plans
polled most recently the leaves each object's unchanged kernel info gave (api.info_memo,
saving ~2 ms of that poll).

Covered: query operations made of fields (aliases, repeated fields, inline and named
fragments on the same type), root-field arguments given as literals or variables (Int and
enum; Boolean, also left to its default), `__typename` below the root. Anything else
(directives, introspection, arguments below the root, abstract types, enum outputs) has no
plan, and a value the plan cannot answer as graphql-core would (a null in a non-null field, a
leaf its scalar refuses, an error below the root) makes `run` answer None: the caller then
executes with graphql-core, which gives the same answer or the errors. A root field whose
resolver raises, the common failure (an id that does not exist), is answered here as
graphql-core answers it: no resolver runs twice then.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
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
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    located_error,
    print_ast,
    specified_rules,
    validate,
)

from .info_memo import MemoPool
from .nodes import InfoField, NodeAttr
from .plan_args import INT_MAX, INT_MIN, Unsupported, root_args

Complete = Callable[[Any, Any], Any]  # (resolved value, info) -> response value


class _Info:
    """What resolvers read of GraphQLResolveInfo: the request's context."""

    __slots__ = ("context", "field_name")

    def __init__(self, context: Any) -> None:
        self.context = context
        self.field_name = ""


# ---------------------------------------------------------------- leaves

# What each built-in scalar serialises unchanged: the leaf is answered as it is.
_AS_IS: dict[str, Callable[[Any], bool]] = {
    "Int": lambda v: type(v) is int and INT_MIN <= v <= INT_MAX,
    "Float": lambda v: type(v) is float and math.isfinite(v),
    "String": lambda v: type(v) is str,
    "Boolean": lambda v: type(v) is bool,
}
_BUILT_IN = {GraphQLInt, GraphQLFloat, GraphQLString, GraphQLBoolean}


def _leaf(scalar: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> Complete:
    """Completion of a leaf: common values as they are, others through the scalar's own
    serialize; a value it refuses, or a null in a non-null field, is graphql-core's to
    report."""
    if isinstance(scalar, GraphQLEnumType) or scalar not in _BUILT_IN:
        raise Unsupported("enum or custom scalar output")
    as_is, serialize = _AS_IS[scalar.name], scalar.serialize

    def complete(value: Any, _info: Any) -> Any:
        if as_is(value):
            return value
        if value is None:
            if non_null:
                raise Unsupported("null in a non-null field")
            return None
        try:
            return serialize(value)
        except (GraphQLError, TypeError, ValueError):
            raise Unsupported("a leaf graphql-core reports as an error") from None

    complete.as_is = as_is  # type: ignore[attr-defined]
    return complete


# ---------------------------------------------------------------- field collection


def collect(
    parent: GraphQLObjectType,
    selection_sets: Sequence[SelectionSetNode],
    fragments: dict[str, FragmentDefinitionNode],
) -> OrderedDict[str, list[FieldNode]]:
    """Fields by response key in first-occurrence order, as graphql-core collects them (a
    named fragment is expanded once per collection, the first time it is spread)."""
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
                _same_type(sel.type_condition, parent)
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                if sel.name.value in visited:
                    continue
                visited.add(sel.name.value)
                frag = fragments.get(sel.name.value)
                if frag is None or frag.directives or frag.variable_definitions:
                    raise Unsupported("fragment")
                _same_type(frag.type_condition, parent)
                walk(frag.selection_set)

    for selection_set in selection_sets:
        walk(selection_set)
    return fields


def _same_type(condition: Any, parent: GraphQLObjectType) -> None:
    if condition is not None and condition.name.value != parent.name:
        raise Unsupported("fragment on another type")


# ---------------------------------------------------------------- completion


class _Field:
    """How one response key of an object is answered: where its value comes from (`kind`),
    and how it is completed."""

    __slots__ = ("complete", "getter", "key", "kind", "missing", "slot")

    INFO, NODE, CALL, CONSTANT = range(4)

    def __init__(self, key: str, kind: int, complete: Complete, getter: Any = None,
                 missing: Any = None, slot: int = 0) -> None:  # fmt: skip
        self.key, self.kind, self.complete = key, kind, complete
        self.getter, self.missing, self.slot = getter, missing, slot


# Types whose resolvers ask another server (Query.fleet asks Prometheus): graphql-core runs
# them, once, rather than a plan that would ask again when one of them fails.
NOT_PLANNED = frozenset({"Fleet"})


class Compiler:
    """Turns the selections of one document into completion closures."""

    def __init__(
        self, fragments: dict[str, FragmentDefinitionNode], memos: MemoPool | None = None
    ) -> None:
        self.fragments = fragments
        self.memos = memos or MemoPool()

    def complete(self, type_: GraphQLOutputType, nodes: Sequence[FieldNode]) -> Complete:
        """The function turning a resolved value into the response value of `type_`."""
        non_null = isinstance(type_, GraphQLNonNull)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            return _leaf(inner, non_null)
        if isinstance(inner, GraphQLList):
            item = self.complete(inner.of_type, nodes)

            def as_list(value: Any, info: Any) -> Any:
                if value is None:
                    return _null(non_null)
                if isinstance(value, str | bytes | dict):
                    raise Unsupported("not a list")
                return [item(v, info) for v in value]

            return as_list
        if isinstance(inner, GraphQLObjectType):
            build = self.object_builder(inner, nodes)

            def as_object(value: Any, info: Any) -> Any:
                return _null(non_null) if value is None else build(value, info)

            return as_object
        raise Unsupported("abstract type")

    def object_builder(
        self, parent: GraphQLObjectType, nodes: Sequence[FieldNode]
    ) -> Callable[[Any, Any], dict[str, Any]]:
        """One object's response dict. Resolvers that only read the node's kernel info
        (InfoField) read it once per object; a node's own attribute (NodeAttr) is read as
        such; any other resolver is called as graphql-core would."""
        if parent.name in NOT_PLANNED:
            raise Unsupported(f"{parent.name} is answered by graphql-core")
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        attrs: list[str] = []  # node attributes holding kernel infos, read once per object
        fields: list[_Field] = []
        for key, field_nodes in collect(parent, sets, self.fragments).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                fields.append(_Field(key, _Field.CONSTANT, _identity, parent.name))
                continue
            field = parent.fields.get(name)
            if name.startswith("__") or field is None or any(n.arguments for n in field_nodes):
                raise Unsupported("introspection or field arguments")
            complete = self.complete(field.type, field_nodes)
            resolve = field.resolve or _default_resolver(name)
            if isinstance(resolve, InfoField) and resolve.attr.isidentifier():
                if resolve.attr not in attrs:
                    attrs.append(resolve.attr)
                slot = attrs.index(resolve.attr)
                fields.append(_Field(key, _Field.INFO, complete, resolve.getter,
                                     resolve.missing, slot))  # fmt: skip
            elif isinstance(resolve, NodeAttr) and resolve.name.isidentifier():
                fields.append(_Field(key, _Field.NODE, complete, resolve.name))
            else:
                fields.append(_Field(key, _Field.CALL, complete, resolve))
        # Per field: (key, kind, getter, missing, slot, as_is, complete). A leaf whose value
        # its scalar answers unchanged (as_is) skips the call to `complete`. Leaves read from
        # the infos alone are memoised while the infos are the same objects (api.info_memo).
        plan = [(f.key, f.kind, f.getter, f.missing, f.slot,
                 getattr(f.complete, "as_is", _never), f.complete) for f in fields]  # fmt: skip
        info_kind, node_kind, call_kind = _Field.INFO, _Field.NODE, _Field.CALL
        kept = [i for i, f in enumerate(fields)
                if f.kind == info_kind and hasattr(f.complete, "as_is")]  # fmt: skip
        memo = self.memos.memo()
        kept_plan = [plan[i] for i in kept]
        slot_of = {i: n for n, i in enumerate(kept)}
        rest = [(key, kind, getter, missing, slot, as_is, complete, slot_of.get(i))
                for i, (key, kind, getter, missing, slot, as_is, complete)
                in enumerate(plan)]  # fmt: skip

        def kept_values(infos: tuple[Any, ...], info: Any) -> tuple[Any, ...]:
            """The memoised leaves of an object with these infos, computed on a miss."""
            memo.turn(info.context.snapshot)
            values = memo.get(infos)
            if values is None:
                computed = []
                for _key, _kind, getter, missing, slot, as_is, complete in kept_plan:
                    kinfo = infos[slot]
                    value = missing if kinfo is None else getter(kinfo)
                    computed.append(value if as_is(value) else complete(value, info))
                values = tuple(computed)
                memo.put(infos, values)
            return values

        def build(node: Any, info: Any) -> dict[str, Any]:
            infos = tuple([getattr(node, a) for a in attrs])
            known = kept_values(infos, info) if kept else ()
            out = {}
            for key, kind, getter, missing, slot, as_is, complete, memo_slot in rest:
                if memo_slot is not None:
                    out[key] = known[memo_slot]
                    continue
                if kind == info_kind:
                    kinfo = infos[slot]
                    value = missing if kinfo is None else getter(kinfo)
                elif kind == node_kind:
                    value = getattr(node, getter)
                elif kind == call_kind:
                    value = getter(node, info)
                else:
                    value = getter
                out[key] = value if as_is(value) else complete(value, info)
            return out

        return build


def _null(non_null: bool) -> None:
    if non_null:
        raise Unsupported("null in a non-null field")
    return None


def _identity(value: Any, _info: Any) -> Any:
    return value


def _never(_value: Any) -> bool:
    return False


def _default_resolver(name: str) -> Callable[[Any, Any], Any]:
    """graphql-core's default resolver: a key of a dict, else an attribute (not a method)."""

    def resolve(source: Any, _info: Any) -> Any:
        value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
        if callable(value):
            raise Unsupported("callable default-resolved value")
        return value

    return resolve


# ---------------------------------------------------------------- plans


def _operation(document: DocumentNode, name: Any) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    if len(chosen) != 1:
        raise Unsupported("which operation")
    return chosen[0]


class Plan:
    """One operation of one document, compiled."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation_name: Any,
        memos: MemoPool | None = None,
    ):
        operation = _operation(document, operation_name)
        if operation.operation != OperationType.QUERY or operation.directives:
            raise Unsupported("not a plain query")
        self.defaults = {
            v.variable.name.value: v.default_value
            for v in operation.variable_definitions or ()
            if v.default_value is not None
        }
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        compiler = Compiler(fragments, memos)
        query = schema.query_type
        if query is None:
            raise Unsupported("no query type")
        self.fields: list[tuple[str, Any, FieldNode, Complete]] = []
        for key, nodes in collect(query, [operation.selection_set], fragments).items():
            name = nodes[0].name.value
            field = query.fields.get(name)
            if field is None or field.resolve is None or name.startswith("__"):
                raise Unsupported("root field")
            if len(nodes) > 1 and any(n.arguments for n in nodes):
                raise Unsupported("repeated root field with arguments")
            self.fields.append((key, field, nodes[0], compiler.complete(field.type, nodes)))

    def run(self, context: Any, variables: dict[str, Any]) -> dict[str, Any]:
        """The response, errors of root resolvers included as graphql-core formats them;
        Unsupported for what graphql-core must answer."""
        info = _Info(context)
        data: dict[str, Any] | None = {}
        errors: list[GraphQLError] = []
        for key, field, node, complete in self.fields:
            args = root_args(field, node, variables, self.defaults)
            try:
                value = field.resolve(None, info, **args)
            except Exception as exc:  # the field's error, as graphql-core reports it
                errors.append(located_error(exc, [node], [key]))
                if isinstance(field.type, GraphQLNonNull):
                    data = None  # a non-null root field's error nulls the whole answer
                elif data is not None:
                    data[key] = None
                continue
            try:
                answer = complete(value, info)
            except Unsupported:
                raise
            except Exception:  # a resolver below the root raised: graphql-core reports it
                raise Unsupported("an error below the root") from None
            if data is not None:
                data[key] = answer
        result: dict[str, Any] = {"data": data}
        if errors:
            result["errors"] = errors
        return result


class FastPath:
    """Plans by document (its printed form: texts differing in spacing or comments share
    one; a bounded LRU; a document validation refuses has none); `run` answers a request or
    says None for graphql-core to execute it."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        *,
        max_plans: int = 64,
    ) -> None:
        self.schema = schema
        self.rules = [*specified_rules, *rules]
        self.max_plans = max_plans
        self.memos = MemoPool()  # leaves kept per object for the polled plans (api.info_memo)
        self._plans: OrderedDict[tuple[str, Any], Plan | None] = OrderedDict()
        self._lock = threading.Lock()
        self.answered = 0  # operations answered by a plan (tests and benchmarks read it)

    def plan(self, printed: str, operation_name: Any, document: DocumentNode) -> Plan | None:
        """The plan of `document` (`printed` is its print_ast), made on first use."""
        key = (printed, operation_name)
        with self._lock:
            if key in self._plans:
                self._plans.move_to_end(key)
                return self._plans[key]
        plan: Plan | None = None
        try:
            if not validate(self.schema, document, self.rules):
                plan = Plan(self.schema, document, operation_name, self.memos)
        except (Unsupported, RecursionError):
            plan = None
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
        return plan

    def run(
        self, data: dict[str, Any], context: Any, document: DocumentNode, printed: str = ""
    ) -> tuple[dict[str, Any], list[GraphQLError]] | None:
        """(the result graphql-core would give, the errors in it), or None to let it run.
        `printed`: the document's print_ast, when the caller has it."""
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            return None
        plan = self.plan(printed or print_ast(document), data.get("operationName"), document)
        if plan is None:
            return None
        try:
            result = plan.run(context, variables)
        except Unsupported:
            return None
        self.answered += 1
        errors = result.get("errors", [])
        if errors:
            result["errors"] = [e.formatted for e in errors]
        return result, errors
