"""Whole map entries decoded through the map's BTF: what `bpftool map dump` prints under
"formatted", for the dump command, the API's BTF entry format and `--etm ...:btf`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..bpf.btf import Btf, load_btf
from ..bpf.btf.types import BTFError
from ..bpf.info import MapInfo
from ..bpf.maps import MapDump
from .btf_render import compile_renderer

EntryRenderer = Callable[[bytes, bytes | Sequence[bytes]], dict[str, object]]


def load_map_btf(info: MapInfo) -> Btf | None:
    """The BTF that describes a map's entries (vmlinux for struct_ops maps), None if none."""
    if info.btf_vmlinux_value_type_id:
        return load_btf(info.btf_vmlinux_id)
    if info.btf_value_type_id and info.btf_id:
        return load_btf(info.btf_id)
    return None


def map_entry_renderer(btf: Btf, info: MapInfo) -> EntryRenderer:
    """A function (key bytes, value) -> what bpftool prints under "formatted" for the map.

    Plain maps give {"key": ..., "value": ...}; per-CPU maps take a list of per-CPU values (or
    all slots as one buffer) and give {"key": ..., "values": [{"cpu": i, "value": ...}]}. The
    key is left out when the map's BTF has no key type (global-data maps).
    """
    value_id = info.btf_vmlinux_value_type_id or info.btf_value_type_id
    if not value_id:
        raise BTFError(f"map {info.id} ({info.name}) has no BTF value type")
    key_r = compile_renderer(btf, info.btf_key_type_id) if info.btf_key_type_id else None
    value_r = compile_renderer(btf, value_id)
    if not info.is_per_cpu:

        def plain(key: bytes, value: bytes | Sequence[bytes]) -> dict[str, object]:
            if not isinstance(value, bytes | bytearray):
                raise BTFError(f"map {info.id} is not per-CPU: pass one value")
            if key_r is None:
                return {"value": value_r(bytes(value))}
            return {"key": key_r(key), "value": value_r(bytes(value))}

        return plain
    slot = (info.value_size + 7) & ~7

    def per_cpu(key: bytes, value: bytes | Sequence[bytes]) -> dict[str, object]:
        if isinstance(value, bytes | bytearray):
            value = [bytes(value[i : i + slot]) for i in range(0, len(value), slot)]
        values = [{"cpu": cpu, "value": value_r(v)} for cpu, v in enumerate(value)]
        if key_r is None:
            return {"values": values}
        return {"key": key_r(key), "values": values}

    return per_cpu


def render_map_entry(
    btf: Btf, info: MapInfo, key: bytes, value: bytes | Sequence[bytes]
) -> dict[str, object]:
    """One entry as bpftool prints it under "formatted" (see map_entry_renderer)."""
    return map_entry_renderer(btf, info)(key, value)


def render_dump(btf: Btf, info: MapInfo, dump: MapDump) -> list[dict[str, object]]:
    """Every entry of a whole-map read (MapHandle.read_all()), formatted."""
    entry = map_entry_renderer(btf, info)
    if dump.per_cpu:
        return [entry(dump.key(i), dump.cpu_values(i)) for i in range(dump.count)]
    return [entry(dump.key(i), dump.value(i)) for i in range(dump.count)]
