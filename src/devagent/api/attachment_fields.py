"""Program.attachments: every attachment of a program, whatever made it (model.attachments),
as Attachment objects (dicts keyed by the schema's field names, so the fast path's plain
reads answer them)."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType

from ..model.attachments import Attachment, attachments_of
from .context import request_context
from .nodes import ProgramNode

program_attachments = ObjectType("Program")


def attachment_dict(a: Attachment) -> dict[str, Any]:
    """One Attachment, as GraphQL (and the CLI's JSON) spell it."""
    return {
        "mechanism": a.mechanism,
        "kind": a.kind,
        "attachType": a.attach_type,
        "target": a.target,
        "ifindex": a.ifindex,
        "ifname": a.ifname,
        "cgroupPath": a.cgroup_path,
        "pid": a.pid,
        "linkId": a.link_id,
        "mode": a.mode,
    }


@program_attachments.field("attachments")
def resolve_program_attachments(node: ProgramNode, info: Any) -> list[dict[str, Any]]:
    if node.prog is None:
        return []
    return [attachment_dict(a) for a in attachments_of(request_context(info).snapshot, node.id)]
