"""A compiled execution plan for the read queries UIs poll, answering exactly as graphql-core.

graphql-core resolves every field through its generic machinery (an info object, a path,
completion by type, middleware): ~2 µs per field, so the explorer's Navigation over 1000
programs and 1000 maps (~17 000 fields) took ~40 ms to execute. Here each distinct document
is compiled once into closures that call the same resolvers, serialise leaves with the same
scalar rules and build the same dict in the same key order, without that machinery.

The plan covers queries made of fields (aliases, repeated fields, inline fragments and
named fragments on the same type included), root fields with arguments given as literals or
variables, and `__typename`. Anything else (directives, introspection, field arguments below
the root, abstract types, a non-null field resolving to null, an Int outside 32 bits, any
exception from a resolver) makes `run` answer None, and the caller executes the operation
with graphql-core, which produces the errors. Resolvers only read the request's snapshot, so
running them again there gives the same answer. Validation stays graphql-core's.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson
from graphql import (
    ASTValidationRule,
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLSchema,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    parse,
    print_ast,
    validate,
)

from .plan_compiler import INT_MAX, INT_MIN, Compiler, Complete, Unsupported, collect

# Serialised root-field answers kept per snapshot (a snapshot lives ~1 s): enough for every
# page of every UI polling at once, bounded against clients sending endless variations.
MAX_SHARED_ANSWERS = 64


class _Info:
    """What resolvers may read of GraphQLResolveInfo here: the request's context."""

    __slots__ = ("context", "field_name")

    def __init__(self, context: Any) -> None:
        self.context = context
        self.field_name = ""


# ---------------------------------------------------------------- root arguments


def _argument_value(node: Any, variables: dict[str, Any], defaults: dict[str, Any]) -> Any:
    """A root argument's value: literals and variables of the scalar kinds our root fields
    take (Int, enum); anything else is left to graphql-core."""
    if isinstance(node, VariableNode):
        name = node.name.value
        if name in variables:
            return variables[name]
        if name in defaults:
            return _argument_value(defaults[name], {}, {})
        raise Unsupported("missing variable")
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, EnumValueNode):
        return node.value
    if isinstance(node, StringValueNode | BooleanValueNode | FloatValueNode | NullValueNode):
        raise Unsupported("argument kind")
    raise Unsupported("argument kind")


def _root_args(
    field: Any, node: FieldNode, variables: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """The arguments of a root field as graphql-core passes them (by their Python names)."""
    given = {arg.name.value: arg.value for arg in node.arguments or ()}
    args: dict[str, Any] = {}
    for name, definition in field.args.items():
        if name not in given:
            if isinstance(definition.type, GraphQLNonNull) or definition.default_value is not None:
                raise Unsupported("missing argument or default")
            continue
        value = _argument_value(given[name], variables, defaults)
        kind = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else None
        if kind is GraphQLInt:
            if type(value) is not int or not INT_MIN <= value <= INT_MAX:
                raise Unsupported("Int argument")
        elif isinstance(kind, GraphQLEnumType):
            if not isinstance(value, str) or value not in kind.values:
                raise Unsupported("enum argument")
            value = kind.values[value].value
        else:
            raise Unsupported("argument type")
        args[definition.out_name or name] = value
    if set(given) - set(field.args):
        raise Unsupported("unknown argument")
    return args


# ---------------------------------------------------------------- plans


class Plan:
    """One operation of one document, compiled."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation_name: Any):
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None:
            if len(operations) != 1:
                raise Unsupported("which operation")
            operation = operations[0]
        else:
            named = [o for o in operations if o.name and o.name.value == operation_name]
            if len(named) != 1:
                raise Unsupported("which operation")
            operation = named[0]
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
        compiler = Compiler(schema, fragments)
        query = schema.query_type
        assert query is not None
        self.fields = []
        for key, nodes in collect(query, [operation.selection_set], fragments).items():
            name = nodes[0].name.value
            if name == "__typename":
                raise Unsupported("root __typename")
            field = query.fields.get(name)
            if field is None or field.resolve is None or name.startswith("__"):
                raise Unsupported("root field")
            if len(nodes) > 1 and any(n.arguments for n in nodes):
                raise Unsupported("repeated root field with arguments")
            complete = compiler.complete(field.type, nodes)
            signature = f"{name}:{compiler.signature(field.type, nodes)}"
            self.fields.append((key, field, nodes[0], complete, signature))

    def run(self, context: Any, variables: dict[str, Any]) -> dict[str, Any]:
        """The response; each root field's answer is kept, serialised, for the rest of the
        snapshot's life under its canonical signature, so other documents selecting the same
        (the same page polled by many clients, or differently worded) share it."""
        info = _Info(context)
        snapshot = context.snapshot
        data: dict[str, Any] = {}
        for key, field, node, complete, signature in self.fields:
            args = _root_args(field, node, variables, self.defaults)

            def answer(field: Any = field, complete: Complete = complete, args: Any = args) -> Any:
                return complete(field.resolve(None, info, **args), info)

            if snapshot.memo_size() >= MAX_SHARED_ANSWERS:
                data[key] = answer()
                continue
            memo_key = ("fastpath", signature, tuple(sorted(args.items())))
            data[key] = snapshot.memo(memo_key, lambda a=answer: orjson.Fragment(orjson.dumps(a())))
        return {"data": data}


class FastPath:
    """Plans by document text (bounded LRU); `run` answers or says None."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        *,
        max_plans: int = 64,
    ) -> None:
        self.schema = schema
        self.rules = list(rules)
        self.max_plans = max_plans
        self._plans: OrderedDict[tuple[str, Any], Plan | None] = OrderedDict()
        self._lock = threading.Lock()
        self.answered = 0  # operations answered by a plan (tests and benchmarks read it)

    def plan(
        self,
        query: str,
        operation_name: Any,
        document: DocumentNode | None = None,
        key: str | None = None,
    ) -> Plan | None:
        """The plan of a document, by its token key (api.documents) or else its text, then
        by its printed form (texts that differ only in spacing or comments share one
        validation and one plan). `document` is the parsed `query`, when the caller has it."""
        first = (key if key is not None else query, operation_name)
        with self._lock:
            if first in self._plans:
                self._plans.move_to_end(first)
                return self._plans[first]
        plan: Plan | None
        try:
            if document is None:
                document = parse(query)
            normal = (print_ast(document), operation_name)
            with self._lock:
                known = normal in self._plans
                plan = self._plans.get(normal)
            if not known:
                if validate(self.schema, document, [*_specified_rules(), *self.rules]):
                    plan = None  # graphql-core reports the errors
                else:
                    plan = Plan(self.schema, document, operation_name)
        except (GraphQLError, Unsupported, RecursionError):
            plan, normal = None, first
        with self._lock:
            self._plans[first] = self._plans[normal] = plan
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
        return plan

    def run(
        self,
        data: dict[str, Any],
        context: Any,
        document: DocumentNode | None = None,
        key: str | None = None,
    ) -> dict[str, Any] | None:
        """The result graphql-core would give for this request, or None to let it run."""
        variables = data.get("variables") or {}
        if not isinstance(variables, dict):
            return None
        plan = self.plan(data["query"], data.get("operationName"), document, key)
        if plan is None:
            return None
        try:
            result = plan.run(context, variables)
        except Exception:  # graphql-core runs it again and reports the error
            return None
        self.answered += 1
        return result


def _specified_rules() -> Sequence[type[ASTValidationRule]]:
    from graphql import specified_rules

    return specified_rules
