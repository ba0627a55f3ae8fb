"""Ariadne bindable of the `Link` type: a link's attach details, program, pins and owners."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType

from ..bpf.links import CGROUP, TRACING, tracing_target_name
from .context import request_context
from .nodes import InfoField, LinkNode, NodeAttr, ProgramNode, owner_dicts, program_nodes

# ---------------------------------------------------------------- Link

link_type = ObjectType("Link")


def _detail(key: str) -> InfoField:
    return InfoField("link", lambda link: link.details.get(key))


link_type.set_field("id", NodeAttr("id"))
link_type.set_field("error", NodeAttr("error"))
link_type.set_field("agentOwn", NodeAttr("agent_own"))
for _field, _key in {
    "attachType": "attach_type",
    "cgroupId": "cgroup_id",
    "ifindex": "ifindex",
    "interfaceName": "devname",
    "netnsIno": "netns_ino",
    "netfilterFamily": "pf",
    "netfilterHook": "hook",
    "netfilterPriority": "prio",
    "mapId": "map_id",
}.items():
    link_type.set_field(_field, _detail(_key))


@link_type.field("type")
def resolve_link_type(node: LinkNode, _info: Any) -> str:
    return node.link.type_name if node.link else "Unspecified"


@link_type.field("program")
def resolve_link_program(node: LinkNode, info: Any) -> ProgramNode | None:
    if node.link is None:
        return None
    nodes = program_nodes(request_context(info), [node.link.prog_id])
    return nodes[0] if nodes else None


@link_type.field("pins")
def resolve_link_pins(node: LinkNode, info: Any) -> list[str]:
    return request_context(info).snapshot.link_pins(node.id)


@link_type.field("owners")
def resolve_linkowner_dicts(node: LinkNode, info: Any) -> list[dict[str, Any]]:
    return owner_dicts(request_context(info).snapshot.owners("link", node.id))


@link_type.field("cgroupPath")
def resolve_cgroup_path(node: LinkNode, info: Any) -> str | None:
    if node.link is None or node.link.type != CGROUP:
        return None
    return request_context(info).snapshot.cgroup_path(int(str(node.link.details["cgroup_id"])))


@link_type.field("tracingTarget")
def resolve_tracing_target(node: LinkNode, _info: Any) -> str | None:
    if node.link is None or node.link.type != TRACING:
        return None
    return tracing_target_name(node.link)


@link_type.field("details")
def resolve_link_details(node: LinkNode, _info: Any) -> str | None:
    """Every attach detail the kernel gave, as JSON text (for types without own fields)."""
    if node.link is None:
        return None
    import orjson

    return orjson.dumps(node.link.details).decode()
