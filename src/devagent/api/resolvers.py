"""Ariadne bindables for the read side of the schema: Query, Program, Map (Link's fields are
in link_fields.py).

Resolvers only read the request's snapshot (api.context); objects are passed between them as
`Node` values (api.nodes).
"""

from __future__ import annotations

from typing import Any, TypeVar

from ariadne import EnumType, ObjectType, QueryType

from ..bpf.errors import NotFound
from ..bpf.map_types import can_list
from ..bpf.names import map_flag_names
from ..model.btf_fields import map_value_fields as value_fields
from ..model.entry_order import SORT_KEY, EntryView
from ..model.map_fill import map_fill, map_memlocks
from .attachment_fields import program_attachments
from .btf_type_fields import map_btf_types
from .context import request_context
from .entries import EntriesError
from .instructions import resolve_instructions
from .link_fields import link_type
from .nodes import (
    InfoField,
    LinkNode,
    MapNode,
    NodeAttr,
    ProgramNode,
    SnapshotParts,
    link_nodes,
    map_nodes,
    owner_dicts,
    program_nodes,
)
from .owner_fields import owner_type
from .rate_fields import RATE_BINDABLES
from .server_info import server_query

DEFAULT_ENTRIES_LIMIT = 32
N = TypeVar("N", ProgramNode, MapNode, LinkNode)


# ---------------------------------------------------------------- Query

query = QueryType()


@query.field("programs")
def resolve_programs(_: None, info: Any, includeAgentOwn: bool | None = True) -> list[ProgramNode]:
    nodes = program_nodes(request_context(info))
    return nodes if includeAgentOwn is not False else _without_agent_own(nodes)


@query.field("program")
def resolve_program(_: None, info: Any, id: int) -> ProgramNode:
    ctx = request_context(info)
    ctx.snapshot.program(id)  # NotFound names the id
    return ProgramNode(id, SnapshotParts.of(ctx.snapshot))


@query.field("maps")
def resolve_maps(_: None, info: Any, includeAgentOwn: bool | None = True) -> list[MapNode]:
    nodes = map_nodes(request_context(info))
    return nodes if includeAgentOwn is not False else _without_agent_own(nodes)


@query.field("map")
def resolve_map(_: None, info: Any, id: int) -> MapNode:
    ctx = request_context(info)
    ctx.snapshot.map(id)
    return MapNode(id, SnapshotParts.of(ctx.snapshot))


@query.field("links")
def resolve_links(_: None, info: Any, includeAgentOwn: bool | None = True) -> list[LinkNode]:
    nodes = link_nodes(request_context(info))
    return nodes if includeAgentOwn is not False else _without_agent_own(nodes)


def _without_agent_own(nodes: list[N]) -> list[N]:
    """The nodes that are not the agent's own (`includeAgentOwn: false`; null, like the
    default, lists every one)."""
    return [n for n in nodes if not n.agent_own]


@query.field("link")
def resolve_link(_: None, info: Any, id: int) -> LinkNode:
    ctx = request_context(info)
    ctx.snapshot.link(id)
    return LinkNode(id, SnapshotParts.of(ctx.snapshot))


@query.field("connectedGraph")
def resolve_connected_graph(_: None, info: Any, **kwargs: Any) -> dict[str, Any]:
    ctx = request_context(info)
    kind = {"PROGRAM": "program", "MAP": "map", "LINK": "link"}[kwargs["fromType"]]
    progs, maps, links = ctx.snapshot.connected(kind, kwargs["from"])
    return {
        "programs": program_nodes(ctx, sorted(progs)),
        "maps": map_nodes(ctx, sorted(maps)),
        "links": link_nodes(ctx, sorted(links)),
    }


# ---------------------------------------------------------------- Program

program = ObjectType("Program")

_PROGRAM_FIELDS = {
    "name": lambda p: p.name,
    "tag": lambda p: p.tag,
    "runTime": lambda p: p.run_time_ns / 1e9,
    "runCount": lambda p: p.run_count,
    "avgRunTime": lambda p: p.avg_run_time_ns / 1e9,
    "btfId": lambda p: p.btf_id,  # 0 without BTF, as the Go agent answers
    "loadedAt": lambda p: p.loaded_at.isoformat(),
    "uid": lambda p: p.uid,
    "xlatedSize": lambda p: p.xlated_size,
    "jitedSize": lambda p: p.jited_size,
    "verifiedInsns": lambda p: p.verified_insns,
    "recursionMisses": lambda p: p.recursion_misses,
    "gplCompatible": lambda p: p.gpl_compatible,
}


for _name, _getter in _PROGRAM_FIELDS.items():
    program.set_field(_name, InfoField("prog", _getter))
program.set_field("type", InfoField("prog", lambda p: p.type_name, "UnspecifiedProgram"))
program.set_field("id", NodeAttr("id"))
program.set_field("error", NodeAttr("error"))
program.set_field("agentOwn", NodeAttr("agent_own"))


@program.field("verifierLog")
def resolve_verifier_log(_node: ProgramNode, _info: Any) -> None:
    return None  # the kernel keeps no verifier log for loaded programs


@program.field("isPinned")
def resolve_program_is_pinned(node: ProgramNode, info: Any) -> bool | None:
    if node.prog is None:
        return None
    return bool(request_context(info).snapshot.program_pins(node.id))


@program.field("pins")
def resolve_program_pins(node: ProgramNode, info: Any) -> list[str]:
    return request_context(info).snapshot.program_pins(node.id)


@program.field("maps")
def resolve_program_maps(node: ProgramNode, info: Any) -> list[MapNode]:
    if node.prog is None:
        return []
    return map_nodes(request_context(info), node.prog.map_ids)


@program.field("links")
def resolve_program_links(node: ProgramNode, info: Any) -> list[LinkNode]:
    ctx = request_context(info)
    return link_nodes(ctx, ctx.snapshot.program_links.get(node.id, ()))


@program.field("owners")
def resolve_programowner_dicts(node: ProgramNode, info: Any) -> list[dict[str, Any]]:
    return owner_dicts(request_context(info).snapshot.owners("program", node.id))


@program.field("fullName")
def resolve_program_full_name(node: ProgramNode, info: Any) -> str | None:
    if node.prog is None:
        return None
    return request_context(info).snapshot.full_name(node.id)


@program.field("metadata")
def resolve_program_metadata(node: ProgramNode, info: Any) -> list[dict[str, str]] | None:
    if node.prog is None:
        return None
    kvs = request_context(info).snapshot.metadata(node.id)
    return [{"key": kv.key, "value": kv.value} for kv in kvs]


program.set_field("instructions", resolve_instructions)


@program.field("tasks")
def resolve_program_tasks(node: ProgramNode, info: Any) -> list[dict[str, Any]]:
    return [
        {
            "pid": t.pid,
            "fd": t.fd,
            "type": t.type_name,
            "name": t.name or None,
            "probeOffset": f"0x{t.probe_offset:x}",
            "probeAddr": f"0x{t.probe_addr:x}",
        }
        for t in request_context(info).snapshot.tasks_of_program(node.id)
    ]


# ---------------------------------------------------------------- Map

map_type = ObjectType("Map")

_MAP_FIELDS = {
    "name": lambda m: m.name,
    "flags": lambda m: m.flags,
    "keySize": lambda m: m.key_size,
    "valueSize": lambda m: m.value_size,
    "maxEntries": lambda m: m.max_entries,
    "btfId": lambda m: m.btf_id,
    "btfKeyTypeId": lambda m: m.btf_key_type_id or None,
    "btfValueTypeId": lambda m: m.btf_value_type_id or None,
}


for _name, _getter in _MAP_FIELDS.items():
    map_type.set_field(_name, InfoField("map", _getter))
map_type.set_field("type", InfoField("map", lambda m: m.type_name, "UnspecifiedMap"))
map_type.set_field("id", NodeAttr("id"))
map_type.set_field("error", NodeAttr("error"))
map_type.set_field("agentOwn", NodeAttr("agent_own"))


map_type.set_field("isPinned", NodeAttr("is_pinned"))  # every poll asks: inlined by the plan


@map_type.field("pins")
def resolve_map_pins(node: MapNode, info: Any) -> list[str]:
    return request_context(info).snapshot.map_pins(node.id)


@map_type.field("isPerCPU")
def resolve_is_per_cpu(node: MapNode, _info: Any) -> bool:
    return node.map is not None and node.map.is_per_cpu


@map_type.field("isLookupSupported")
def resolve_is_lookup_supported(node: MapNode, _info: Any) -> bool:
    return node.map is not None and can_list(node.map)


@map_type.field("flagNames")
def resolve_flag_names(node: MapNode, _info: Any) -> list[str]:
    return map_flag_names(node.map.flags) if node.map else []


@map_type.field("frozen")
def resolve_frozen(node: MapNode, _info: Any) -> bool | None:
    from ..bpf.objects import map_frozen

    return map_frozen(node.id) if node.map else None


@map_type.field("programs")
def resolve_map_programs(node: MapNode, info: Any) -> list[ProgramNode]:
    ctx = request_context(info)
    return program_nodes(ctx, ctx.snapshot.map_programs.get(node.id, ()))


@map_type.field("owners")
def resolve_mapowner_dicts(node: MapNode, info: Any) -> list[dict[str, Any]]:
    return owner_dicts(request_context(info).snapshot.owners("map", node.id))


@map_type.field("usedEntries")
def resolve_used_entries(node: MapNode, info: Any) -> int | None:
    ctx = request_context(info)
    return map_fill(ctx.snapshot, ctx.settings.map_entries_budget).counts.get(node.id)


@map_type.field("fillRatio")
def resolve_fill_ratio(node: MapNode, info: Any) -> float | None:
    used: int | None = resolve_used_entries(node, info)
    if used is None or node.map is None or not node.map.max_entries:
        return None
    return used / node.map.max_entries


@map_type.field("memlockBytes")
def resolve_memlock_bytes(node: MapNode, info: Any) -> float | None:
    value = map_memlocks(request_context(info).snapshot).get(node.id)
    return None if value is None else float(value)


@map_type.field("entriesCount")
def resolve_entries_count(node: MapNode, info: Any) -> int:
    if node.map is None:
        return 0
    try:
        return request_context(info).pager.count(node.map)
    except NotFound:
        # Unloaded since the snapshot listed it: it holds nothing now. Raising would null
        # the whole list around this non-null field (every other map's answer with it).
        return 0


@map_type.field("entries")
def resolve_entries(
    node: MapNode,
    info: Any,
    offset: int | None = None,
    limit: int | None = None,
    keyFormat: str = "HEX",
    valueFormat: str = "HEX",
    sortBy: str | None = None,
    descending: bool | None = None,
    top: int | None = None,
    keySearch: str | None = None,
    keySearchFormat: str | None = None,
) -> list[dict[str, Any]]:
    ctx = request_context(info)
    offset = 0 if offset is None else offset
    limit = DEFAULT_ENTRIES_LIMIT if limit is None else limit
    if offset < 0 or limit < 0:
        raise EntriesError(f"offset and limit must not be negative (got {offset}, {limit})")
    maximum = ctx.settings.max_entries_limit
    if limit > maximum:
        raise EntriesError(f"limit {limit} is over the maximum of {maximum} entries per page")
    if node.map is None:
        return []
    if top is not None and top < 0:
        raise EntriesError(f"top must not be negative (got {top})")
    view = EntryView(sortBy or SORT_KEY, descending, top, keySearch or None, keySearchFormat)
    charge = ctx.budget.charge if ctx.budget is not None else None
    return ctx.pager.page(node.map, offset, limit, keyFormat, valueFormat, charge, view)


@map_type.field("valueFields")
def resolve_value_fields(node: MapNode, info: Any) -> list[dict[str, Any]]:
    if node.map is None:
        return []
    fields = value_fields(node.map) or []
    return [
        {"path": f.path, "typeName": f.type_name, "kind": f.kind, "bits": f.bits,
         "signed": f.signed, "bitOffset": f.bit_offset, "minimum": str(f.minimum),
         "maximum": str(f.maximum), "enumNames": list(f.enum_names)}
        for f in fields
    ]  # fmt: skip


@map_type.field("entryPosition")
def resolve_entry_position(
    node: MapNode, info: Any, key: str, keyFormat: str = "HEX"
) -> int | None:
    if node.map is None:
        return None
    try:
        return request_context(info).pager.position(node.map, key, keyFormat)
    except NotFound:
        return None


entry_format = EnumType("MapEntryFormat", {f: f for f in ("HEX", "STRING", "NUMBER", "BTF")})
id_type = EnumType("IdType", {t: t for t in ("PROGRAM", "MAP", "LINK")})
instruction_kind = EnumType("InstructionKind", {k: k for k in ("XLATED", "JITED")})

BINDABLES = [
    query,
    program,
    program_attachments,
    map_type,
    map_btf_types,
    link_type,
    owner_type,
    entry_format,
    id_type,
    instruction_kind,
    *RATE_BINDABLES,
    server_query,
]
