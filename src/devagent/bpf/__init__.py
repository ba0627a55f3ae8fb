"""Thin typed layer over the bpf() syscall: stdlib and ctypes only.

Nothing here knows of GraphQL, HTTP or Prometheus.
"""

from .errors import (
    AlreadyExists,
    BPFError,
    InvalidArgument,
    NotFound,
    NotSupported,
    PermissionDenied,
)
from .objects import (
    Fd,
    LinkInfo,
    MapInfo,
    ObjectError,
    ProgramInfo,
    get_link,
    get_map,
    get_program,
    list_links,
    list_maps,
    list_programs,
)

__all__ = [
    "AlreadyExists",
    "BPFError",
    "Fd",
    "InvalidArgument",
    "LinkInfo",
    "MapInfo",
    "NotFound",
    "NotSupported",
    "ObjectError",
    "PermissionDenied",
    "ProgramInfo",
    "get_link",
    "get_map",
    "get_program",
    "list_links",
    "list_maps",
    "list_programs",
]
