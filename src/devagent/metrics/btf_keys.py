"""Key labels of `--etm ...:btf` rules: a map's keys decoded through their BTF type.

The `key` label holds the decoded key as text (what `phydev inspect maps dump --format btf`
shows, compact); when the key is a struct or union, each field also becomes a label of its
own, `key_<field>`, so that a flow map exports like ebpf_exporter's decoded labels and PromQL
can aggregate by any field (`sum by (key_proto) (...)`).

Text of a decoded value: strings as they are, numbers in decimal, booleans as true/false,
anything nested (arrays, inner structs) as compact JSON. The members of an anonymous struct
or union are lifted to the level above, as C lets you name them (all of them: in the `key`
label, as in bpftool's JSON, anonymous members share the name "" and only the last shows).
Characters that are not allowed in a label name become `_`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ..bpf.btf.types import BTFError
from ..bpf.info import MapInfo
from ..model.btf_entries import load_map_btf
from ..model.btf_render import compile_renderer, member_renderers

FIELD_PREFIX = "key_"
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_]")


class NoKeyType(ValueError):
    """The map has no BTF type for its keys (created without BTF, or a global-data map)."""


def label_text(value: object) -> str:
    """One decoded value as label text (see the module docstring)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def label_name(field: str) -> str:
    """`key_<field>`, with characters a label name may not hold replaced by `_`."""
    return FIELD_PREFIX + _NOT_IN_NAME.sub("_", field)


@dataclass(frozen=True)
class BtfKeyLabels:
    """The labels of a batch of keys: `keys[i]` is the `key` label of key i, and
    `field_values[i][j]` the value of label `field_names[j]` for it."""

    keys: list[str]
    field_names: tuple[str, ...]
    field_values: list[tuple[str, ...]]


@dataclass(frozen=True)
class KeyDecoder:
    """How one map's keys become labels: the whole key, and each field of a struct key."""

    render: Callable[[bytes], object]
    fields: tuple[tuple[str, Callable[[bytes], object]], ...]  # (label name, renderer)


def key_decoder(info: MapInfo) -> KeyDecoder:
    """The decoder of a map's keys; NoKeyType when the map has no BTF type for them.

    Two fields with the same name (possible once anonymous members are lifted) give one
    label, the first field's.
    """
    btf = load_map_btf(info) if info.btf_key_type_id else None
    if btf is None:
        raise NoKeyType(f"map {info.id} ({info.name}) has no BTF type for its keys")
    try:
        render = compile_renderer(btf, info.btf_key_type_id)
        members = member_renderers(btf, info.btf_key_type_id)
    except BTFError as exc:
        raise NoKeyType(
            f"map {info.id} ({info.name}): its BTF key type cannot be decoded: {exc}"
        ) from None
    fields: dict[str, Callable[[bytes], object]] = {}
    for name, member in members:
        fields.setdefault(label_name(name), member)
    return KeyDecoder(render, tuple(fields.items()))


def btf_key_labels(info: MapInfo, raw_keys: bytes, count: int) -> BtfKeyLabels:
    """Labels for `count` keys laid end to end in `raw_keys` (key_size bytes each)."""
    decoder = key_decoder(info)
    size = info.key_size
    keys: list[str] = []
    rows: list[tuple[str, ...]] = []
    for i in range(count):
        raw = raw_keys[i * size : (i + 1) * size]
        keys.append(label_text(decoder.render(raw)))
        rows.append(tuple(label_text(field(raw)) for _, field in decoder.fields))
    return BtfKeyLabels(keys, tuple(name for name, _ in decoder.fields), rows)
