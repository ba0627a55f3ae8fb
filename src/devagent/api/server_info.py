"""`Query.serverInfo`: what this server allows, so a UI can show what it may do.

The web UI shows its edit controls as read-only, with the reason, when writes are disabled,
instead of offering edits that the server would refuse.
"""

from __future__ import annotations

from typing import Any

from ariadne import QueryType

from .. import __version__
from ..bpf.maps import possible_cpus
from .context import request_context
from .mutations import WRITES_DISABLED

server_query = QueryType()


@server_query.field("serverInfo")
def resolve_server_info(_: None, info: Any) -> dict[str, Any]:
    settings = request_context(info).settings
    return {
        "version": __version__,
        "allowWrites": settings.allow_writes,
        "writesDisabledReason": None if settings.allow_writes else WRITES_DISABLED,
        "authRequired": settings.auth_token is not None,
        "pathPrefix": settings.path_prefix,
        "bpfDir": settings.bpf_dir,
        "possibleCpus": possible_cpus(),
    }
