"""What an operation may cost, measured before it runs (and before graphql-core validates it).

The cost is an estimate of how many values the answer holds: every selected field counts 1,
and what is selected below a list field counts once per item the list can have. List sizes
come from the request's snapshot (how many programs and maps there are, how many maps a
program uses at most, ...), from an `entries` field's `limit` argument (bounded by the map's
max_entries), from `programStats`'s `ids` and `seconds` (bounded by the readings the server
keeps) and from the schema for introspection. Arguments and variables are read as execution
coerces them (graphql-core's own functions): `limit: 10000.0` in the variables runs as 10000,
so it costs what 10000 costs. Aliases count each time: `a: maps {...}
b: maps {...}` runs twice. A fragment is measured once per definition (and list context) and
reused wherever it is spread, so measuring is linear in the document, never an expansion.

Before measuring, the document is bounded where graphql-core's own validation is costly: the
parser stops at MAX_TOKENS tokens, there may be at most MAX_FRAGMENTS fragment definitions, and
one selection set may repeat a response name at most MAX_SAME_NAME times (the rule that checks
that fields can be merged compares every such pair: 500 copies of `programs { id }` took 2 s).

The depth limit stays as it was documented: at most `max_query_depth` nested fields, not
counting introspection (`__schema`, `__type`), which the playground needs and the cost covers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from graphql.execution.values import get_argument_values, get_variable_values

from ..bpf.features import ROW_COUNT as FEATURE_ROWS
from .list_sizes import PROCESS_GUESS, HistoryBound, ListSizes, MapGeometry

MAX_TOKENS = 20_000
MAX_FRAGMENTS = 100
MAX_SAME_NAME = 20
MAX_NESTING = 64  # selection sets inside one another, fragments and introspection included
DEFAULT_ENTRIES_LIMIT = 32


class QueryRefused(Exception):
    """The operation is too big or too costly to run; the message says which limit."""


# A rough count of GraphQL's tokens (names, numbers, strings, punctuators) by the regex
# engine in C, ~50 times faster than graphql-core's lexer, which would spend 0.4 s on a
# document it then refuses for having too many tokens; the parser has the last word.
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[_A-Za-z0-9.+-]+|[!$&()\[\]:=@{|}]')


def parse_query(text: str) -> DocumentNode:
    """Parse with a bound on tokens (parsing is the one step before any limit can apply)."""
    if len(text) > MAX_TOKENS and sum(1 for _ in _TOKENS.finditer(text)) > MAX_TOKENS:
        raise GraphQLError(
            f"Syntax Error: Document contains more than {MAX_TOKENS} tokens. Parsing aborted."
        )
    try:
        return parse(text, max_tokens=MAX_TOKENS)
    except RecursionError:
        raise GraphQLError("Syntax Error: Document is nested too deeply.") from None


@dataclass(frozen=True)
class Measure:
    cost: int
    depth: int


@dataclass(frozen=True)
class _Where:
    """What a selection set is measured under: the map its entries belong to (None: any
    map, whose geometry is read from the snapshot only if entries are selected), and the
    points of each series below a `programStats` (from its `seconds`)."""

    map: MapGeometry | None
    points: int = 0

    def geometry(self, sizes: ListSizes) -> MapGeometry:
        return self.map if self.map is not None else sizes.any_map


_ANY_MAP = _Where(None)


# The length of each list field, by (type, field): f(sizes, where, argument value).
ArgValue = Callable[[str], Any]
_LISTS: dict[tuple[str, str], Callable[[ListSizes, _Where, ArgValue, int], int]] = {
    ("Query", "programs"): lambda s, w, a, m: s.programs,
    ("Query", "maps"): lambda s, w, a, m: s.maps,
    ("Query", "links"): lambda s, w, a, m: s.links,
    ("ConnectedGraph", "programs"): lambda s, w, a, m: s.programs,
    ("ConnectedGraph", "maps"): lambda s, w, a, m: s.maps,
    ("ConnectedGraph", "links"): lambda s, w, a, m: s.links,
    ("Program", "maps"): lambda s, w, a, m: s.maps_per_program,
    ("Program", "links"): lambda s, w, a, m: s.links_per_program,
    ("Program", "attachments"): lambda s, w, a, m: s.attachments_per_program,
    ("Program", "pins"): lambda s, w, a, m: s.pins_per_object,
    ("Program", "tasks"): lambda s, w, a, m: PROCESS_GUESS,
    ("Program", "owners"): lambda s, w, a, m: PROCESS_GUESS,
    ("Map", "programs"): lambda s, w, a, m: s.programs_per_map,
    ("Map", "pins"): lambda s, w, a, m: s.pins_per_object,
    ("Map", "owners"): lambda s, w, a, m: PROCESS_GUESS,
    ("Map", "flagNames"): lambda s, w, a, m: s.flags_per_map,
    ("Map", "entries"): lambda s, w, a, m: _entries(w.geometry(s), a("limit"), m),
    # A BTF value's numeric fields, not known before the type is read: a generous guess.
    ("Map", "valueFields"): lambda s, w, a, m: VALUE_FIELDS_GUESS,
    ("MapValueField", "enumNames"): lambda s, w, a, m: ENUM_NAMES_GUESS,
    ("Query", "programStats"): lambda s, w, a, m: _series(s, a("ids"), a("seconds")),
    ("ProgramStatsSeries", "points"): lambda s, w, a, m: w.points,
    ("MapEntry", "cpuValues"): lambda s, w, a, m: s.cpus if w.geometry(s).per_cpu else 0,
    ("Link", "pins"): lambda s, w, a, m: s.pins_per_object,
    ("Link", "owners"): lambda s, w, a, m: PROCESS_GUESS,
    ("Host", "features"): lambda s, w, a, m: FEATURE_ROWS,
    # The fleet (api.fleet_fields): sizes a Prometheus may answer, as the resolvers bound them.
    ("Fleet", "nodes"): lambda s, w, a, m: FLEET_NODES_GUESS,
    ("Fleet", "topPrograms"): lambda s, w, a, m: _fleet_limit(a("limit")),
    ("Fleet", "fullestMaps"): lambda s, w, a, m: _fleet_limit(a("limit")),
    ("Fleet", "programsWhere"): lambda s, w, a, m: 1000,
    ("Fleet", "history"): lambda s, w, a, m: 50,
    ("FleetSeries", "points"): lambda s, w, a, m: 240,
}
FLEET_NODES_GUESS = 1000  # a fleet's nodes are not known before Prometheus answers


def _fleet_limit(limit: Any) -> int:
    ok = isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= 500
    return limit if ok else 0  # refused by the resolver


VALUE_FIELDS_GUESS = 32  # numeric fields of a map's BTF value (Map.valueFields)
ENUM_NAMES_GUESS = 16  # names of one enum field (MapValueField.enumNames)


def _entries(geometry: MapGeometry, limit: Any, max_limit: int) -> int:
    if limit is None:
        limit = DEFAULT_ENTRIES_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= max_limit:
        return 0  # refused by the resolver without reading anything
    return min(limit, geometry.max_entries)


def _series(sizes: ListSizes, ids: Any, seconds: Any) -> int:
    """Series of `programStats`: one per id asked for (every program for null), none when
    the resolver refuses `seconds`."""
    if not isinstance(seconds, int) or seconds <= 0:
        return 0
    return sizes.programs if ids is None else len(ids)


def _introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """List sizes of the introspection types. A list inside `types { ... }` is asked once per
    type, so its size here is the mean per type (the total over all types divided by their
    number): `types { fields { args } }` then costs what the answer really holds, where the
    largest type's fields times every type grew with each type added to the schema."""
    types = list(schema.type_map.values())
    n = max(len(types), 1)
    type_fields = [list((getattr(t, "fields", {}) or {}).values()) for t in types]
    fields = sum(len(f) for f in type_fields)
    enums = sum(len(getattr(t, "values", {}) or {}) for t in types)
    field_args = [len(f.args) for fs in type_fields for f in fs if hasattr(f, "args")]
    directive_args = [len(d.args) for d in schema.directives]

    def mean(total: int, count: int) -> int:
        return -(-total // max(count, 1))  # rounded up

    return {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): mean(fields, n),
        ("__Type", "inputFields"): mean(fields, n),
        ("__Type", "enumValues"): mean(enums, n),
        ("__Type", "interfaces"): 1,
        ("__Type", "possibleTypes"): 1,
        ("__Field", "args"): mean(sum(field_args), len(field_args)),
        ("__Directive", "args"): max(directive_args, default=0),
        ("__Directive", "locations"): 32,
    }


class CostMeter:
    """Measures operations of one schema against the list sizes of one snapshot."""

    def __init__(
        self, schema: GraphQLSchema, max_entries_limit: int, history: HistoryBound | None = None
    ) -> None:
        self.schema = schema
        self.max_entries_limit = max_entries_limit
        self.history = history or HistoryBound()
        self.introspection = _introspection_sizes(schema)

    def measure(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        sizes: ListSizes,
    ) -> Measure:
        """Cost and depth of `operation`; QueryRefused when the document is too big for
        graphql-core to validate cheaply."""
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        if len(fragments) > MAX_FRAGMENTS:
            raise QueryRefused(
                f"the document defines {len(fragments)} fragments; the limit is {MAX_FRAGMENTS}"
            )
        walk = _Walk(self, fragments, _variables(self.schema, operation, variables), sizes)
        root = self.schema.get_root_type(operation.operation)
        return walk.selection_set(operation.selection_set, root, _ANY_MAP, 0)


def _variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, given: Mapping[str, Any] | None
) -> Any:
    """The variables as execution coerces them, by graphql-core's get_variable_values
    (`10000.0` is the Int 10000, `5` for a list is `[5]`, defaults of any literal kind are
    filled in), in the form its get_argument_values takes (a dict in graphql-core 3.2,
    VariableValues in 3.3).

    Each variable is coerced alone and one that does not coerce is left out, as if not
    given: graphql-core refuses the request then, with its own message, and the rest is
    still measured (the cost never depends on which of its checks graphql-core runs first,
    nor on api.fastpath, which reads the raw values and runs only what they coerce to)."""
    inputs = dict(given or {})
    values: Any = get_variable_values(schema, [], {})
    for definition in operation.variable_definitions or ():
        try:
            one: Any = get_variable_values(schema, [definition], inputs)
        except RecursionError:
            continue
        if isinstance(one, list):
            continue  # graphql-core's errors: it answers them itself
        if isinstance(values, dict):
            values.update(one)
        else:
            values.sources.update(one.sources)
            values.coerced.update(one.coerced)
    return values


def _named(type_: Any) -> tuple[Any, bool]:
    """The named type under NonNull/List wrappers, and whether a list is among them."""
    is_list = False
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


class _Walk:
    def __init__(
        self,
        meter: CostMeter,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Any,
        sizes: ListSizes,
    ) -> None:
        self.meter = meter
        self.fragments = fragments
        self.variables = variables
        self.sizes = sizes
        self.memo: dict[tuple[str, _Where], Measure] = {}
        self.names: dict[str, Counter[str]] = {}
        self.active: set[str] = set()  # fragments being measured (cycles: graphql-core says)

    def arguments(self, field_def: Any, node: FieldNode) -> dict[str, Any] | None:
        """The field's arguments as its resolver gets them (graphql-core's own coercion of
        literals and variables, defaults filled in), by schema name; None when execution
        would refuse them: the field is then an error and nothing below it runs."""
        if field_def is None or not field_def.args:
            return {}
        try:
            values = get_argument_values(field_def, node, self.variables)
        except (GraphQLError, RecursionError):
            return None
        out = {name: arg.out_name or name for name, arg in field_def.args.items()}
        return {name: values[key] for name, key in out.items() if key in values}

    def response_names(self, selection_set: SelectionSetNode) -> Counter[str]:
        """How often each response name is selected in this set, fragments flattened (each
        fragment's names counted once per definition)."""
        counts: Counter[str] = Counter()
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                counts[(sel.alias or sel.name).value] += 1
            elif isinstance(sel, InlineFragmentNode):
                counts.update(self.response_names(sel.selection_set))
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name in self.names:
                    counts.update(self.names[name])
                elif name in self.fragments and name not in self.active:
                    self.active.add(name)
                    self.names[name] = self.response_names(self.fragments[name].selection_set)
                    self.active.discard(name)
                    counts.update(self.names[name])
        return counts

    def selection_set(
        self, selection_set: SelectionSetNode, parent: Any, where: _Where, nesting: int
    ) -> Measure:
        if nesting > MAX_NESTING:
            raise QueryRefused(f"the query is nested more than {MAX_NESTING} levels deep")
        name, count = max(
            self.response_names(selection_set).items(), key=lambda kv: kv[1], default=("", 0)
        )
        if count > MAX_SAME_NAME:
            raise QueryRefused(
                f"{name!r} is selected {count} times in one selection set; the limit is "
                f"{MAX_SAME_NAME} (use aliases for fields that differ)"
            )
        cost, depth = 0, 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                m = self.field(sel, parent, where, nesting)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                inner = self.meter.schema.get_type(cond.name.value) if cond else parent
                m = self.selection_set(sel.selection_set, inner, where, nesting + 1)
            elif isinstance(sel, FragmentSpreadNode):
                m = self.spread(sel.name.value, where, nesting)
            else:  # pragma: no cover (no other selection kinds)
                continue
            cost += m.cost
            depth = max(depth, m.depth)
        return Measure(cost, depth)

    def spread(self, name: str, where: _Where, nesting: int) -> Measure:
        key = (name, where)
        known = self.memo.get(key)
        if known is not None:
            return known
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:
            return Measure(0, 0)  # unknown or cyclic: validation reports it, nothing runs
        self.active.add(name)
        try:
            inner = self.meter.schema.get_type(fragment.type_condition.name.value)
            measure = self.selection_set(fragment.selection_set, inner, where, nesting + 1)
        finally:
            self.active.discard(name)
        self.memo[key] = measure
        return measure

    def field(self, node: FieldNode, parent: Any, where: _Where, nesting: int) -> Measure:
        name = node.name.value
        schema = self.meter.schema
        type_: Any
        field_def: Any = None
        if name in ("__schema", "__type"):
            type_, is_list = schema.type_map["__Schema" if name == "__schema" else "__Type"], False
        else:
            fields = parent.fields if isinstance(parent, GraphQLObjectType) else {}
            field_def = fields.get(name)
            type_, is_list = _named(field_def.type) if field_def is not None else (None, False)
        args = self.arguments(field_def, node)

        def arg(n: str) -> Any:
            return None if args is None else args.get(n)

        parent_name = getattr(parent, "name", "")
        if parent_name == "Query" and name == "map":
            map_id = arg("id")
            geometry = self.sizes.by_id.get(map_id) if isinstance(map_id, int) else None
            where = _Where(geometry or MapGeometry(False, 0))
        elif parent_name == "Query" and name == "programStats":
            where = _Where(where.map, self.meter.history.points(arg("seconds")))
        elif name in ("maps",):
            where = _ANY_MAP
        items = 1
        if is_list:
            size = _LISTS.get((parent_name, name))
            if args is None:
                items = 0  # a field error: its resolver does not run
            elif size is not None:
                items = size(self.sizes, where, arg, self.meter.max_entries_limit)
            else:
                items = self.meter.introspection.get(
                    (parent_name, name), max(self.sizes.programs, self.sizes.maps, 1)
                )
        own_depth = 0 if name.startswith("__") or parent_name.startswith("__") else 1
        if node.selection_set is None:
            return Measure(1 + (items if is_list else 0), own_depth)
        inner = self.selection_set(node.selection_set, type_, where, nesting + 1)
        return Measure(1 + items * inner.cost, own_depth + inner.depth if own_depth else 0)


def check_cost(
    meter: CostMeter,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    sizes: ListSizes,
    *,
    max_cost: int,
    max_depth: int,
) -> Measure:
    """Measure and refuse (QueryRefused) what is over the limits; the message names the limit
    and how to stay under it."""
    measure = meter.measure(document, operation, variables, sizes)
    name = f"operation {operation.name.value}" if operation.name else "the query"
    if measure.depth > max_depth:
        raise QueryRefused(
            f"{name} is nested {measure.depth} levels deep; the limit is {max_depth}"
        )
    if measure.cost > max_cost:
        raise QueryRefused(
            f"{name} would produce about {measure.cost} values (fields times list sizes on "
            f"this host); the limit is {max_cost}: select fewer fields or lists, lower "
            "`limit` on entries, or raise --max-query-cost"
        )
    return measure
