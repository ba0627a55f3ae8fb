"""Map.btfKeyTypeName and Map.btfValueTypeName: the C names of a map's BTF key and value
types (`struct flow_key`, `__u64`, `char[16]`), which the map page shows where it used to
show bare BTF type ids (numbers nobody can read without bpftool)."""

from __future__ import annotations

from ariadne import ObjectType

from ..bpf.btf import load_btf
from ..bpf.btf.cnames import type_to_c
from ..bpf.btf.types import BTFError
from ..bpf.errors import BPFError
from ..bpf.info import MapInfo
from .nodes import InfoField

map_btf_types = ObjectType("Map")


def btf_type_name(info: MapInfo, part: str) -> str | None:
    """The C name of the map's key or value BTF type; None without one, or when its BTF is
    gone or unreadable (the page then shows the id alone)."""
    if part == "key":
        btf_id, type_id = info.btf_id, info.btf_key_type_id
    elif info.btf_vmlinux_value_type_id:  # struct_ops: the value type is vmlinux's
        btf_id, type_id = info.btf_vmlinux_id, info.btf_vmlinux_value_type_id
    else:
        btf_id, type_id = info.btf_id, info.btf_value_type_id
    if not btf_id or not type_id:
        return None
    try:
        return type_to_c(load_btf(btf_id), type_id)
    except (BTFError, BPFError):
        return None


def _name_of(part: str) -> InfoField:
    return InfoField("map", lambda info: btf_type_name(info, part))


map_btf_types.set_field("btfKeyTypeName", _name_of("key"))
map_btf_types.set_field("btfValueTypeName", _name_of("value"))
