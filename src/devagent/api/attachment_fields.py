"""Program.attachments: every attachment of a program, whatever made it (model.attachments),
as Attachment objects (dicts keyed by the schema's field names, so the fast path's plain
reads answer them)."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType

from ..model.attachments import attachments_of
from .context import request_context
from .nodes import ProgramNode

program_attachments = ObjectType("Program")


@program_attachments.field("attachments")
def resolve_program_attachments(node: ProgramNode, info: Any) -> list[dict[str, object]]:
    if node.prog is None:
        return []
    return [a.to_json() for a in attachments_of(request_context(info).snapshot, node.id)]
