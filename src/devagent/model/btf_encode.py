"""JSON text -> bytes through a BTF type: the way back from what `btf_render` shows.

Why: a BTF-typed value is edited field by field (the UI shows one typed input per field),
and the GraphQL mutations take the BTF format like the others. The encoding is done here,
server-side, next to the renderer, so that the UI needs no copy of the BTF layout and the
range checks use the real types (a 4-bit bitfield refuses 16, an enum takes its names).

Input is what `entries(valueFormat: BTF)` shows: objects by member name (anonymous members'
fields by their own names, as C names them), lists for arrays, strings for char arrays,
numbers (or bpftool's "0x.." hex text) for ints and bitfields, enumerator names or numbers
for enums, true/false for bools; an array may also be an object of index -> element
(`{"counts": {"2": 5}}`) to write only those elements. An object may name only some
members: the others keep the bytes of `base` (the current value when updating, zeros when
creating), so editing one field never rewrites the others from their rendered text.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from ..bpf.btf import Btf
from ..bpf.btf.types import MAX_RESOLVE_DEPTH, Array, BTFError, Enum, Float, Int, Kind, Struct


class BtfEncodeError(ValueError):
    """JSON that does not fit the BTF type; the message names the field and why."""


def encode_json(btf: Btf, type_id: int, text: str, base: bytes | None = None) -> bytes:
    """The bytes of a value of `type_id` written as JSON `text`, over `base` (zeros if None)."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BtfEncodeError(f"not JSON: {exc}") from None
    size = btf.size_of(type_id)
    buf = bytearray(base[:size] if base is not None else b"").ljust(size, b"\0")
    try:
        _put(btf, type_id, obj, buf, 0, "value", 0)
    except BTFError as exc:
        raise BtfEncodeError(str(exc)) from None
    return bytes(buf)


def _put(btf: Btf, type_id: int, obj: Any, buf: bytearray, bit: int, path: str, depth: int) -> None:
    if depth > MAX_RESOLVE_DEPTH:
        raise BtfEncodeError(f"{path}: the type nests too deep")
    tid = btf.resolve(type_id)
    t = btf.type(tid)
    if isinstance(t, Int):
        if t.is_bool and isinstance(obj, bool):
            obj = int(obj)
        if t.is_char and isinstance(obj, str) and len(obj) == 1:
            obj = ord(obj)
        _put_int(buf, bit + t.bit_offset, t.bits, t.signed, _integer(obj, path), path)
    elif isinstance(t, Enum):
        _put_int(buf, bit, t.size * 8, True, _enum_value(t, obj, path), path, either=True)
    elif isinstance(t, Float):
        if not isinstance(obj, int | float) or isinstance(obj, bool):
            raise BtfEncodeError(f"{path}: expected a number, got {obj!r}")
        fmt = {2: "=e", 4: "=f", 8: "=d"}.get(t.size)
        if fmt is None:
            raise BtfEncodeError(f"{path}: {t.size}-byte floats cannot be written")
        struct.pack_into(fmt, buf, bit // 8, float(obj))
    elif t.kind == Kind.PTR:
        _put_int(buf, bit, 64, False, _integer(obj, path), path)
    elif isinstance(t, Array):
        _put_array(btf, t, obj, buf, bit, path, depth)
    elif isinstance(t, Struct):
        if not isinstance(obj, dict):
            raise BtfEncodeError(f"{path}: expected an object of {t.name or 'fields'}, got {obj!r}")
        members = _members(btf, t, bit, depth)
        for name, value in obj.items():
            if name not in members:
                known = ", ".join(members) or "none"
                raise BtfEncodeError(f"{path}: no field {name!r} (fields: {known})")
            mtype, mbit, bitfield = members[name]
            sub = f"{path}.{name}" if path != "value" else name
            if bitfield:
                inner = btf.type(btf.resolve(mtype))
                signed = isinstance(inner, Int) and inner.signed
                _put_int(buf, mbit, bitfield, signed, _integer(value, sub), sub, either=True)
            else:
                _put(btf, mtype, value, buf, mbit, sub, depth + 1)
    else:
        raise BtfEncodeError(f"{path}: {t.kind.name} values cannot be written")


def _members(btf: Btf, t: Struct, bit: int, depth: int) -> dict[str, tuple[int, int, int]]:
    """name -> (type id, bit offset in the value, bitfield size) of a struct's members,
    members of anonymous structs and unions lifted to this level."""
    out: dict[str, tuple[int, int, int]] = {}
    for m in t.members:
        at = bit + m.bit_offset
        if m.name:
            out.setdefault(m.name, (m.type, at, m.bitfield_size))
            continue
        inner = btf.type(btf.resolve(m.type))
        if isinstance(inner, Struct) and not m.bitfield_size and depth < MAX_RESOLVE_DEPTH:
            for name, found in _members(btf, inner, at, depth + 1).items():
                out.setdefault(name, found)
    return out


def _put_array(
    btf: Btf, t: Array, obj: Any, buf: bytearray, bit: int, path: str, depth: int
) -> None:
    elem = btf.type(btf.resolve(t.type))
    esize = btf.size_of(t.type)
    if isinstance(obj, str) and isinstance(elem, Int) and esize == 1:
        data = obj.encode("utf-8")
        if len(data) > t.nelems:
            raise BtfEncodeError(f"{path}: {len(data)} bytes do not fit in char[{t.nelems}]")
        start = bit // 8
        buf[start : start + t.nelems] = data.ljust(t.nelems, b"\0")
        return
    if isinstance(obj, dict):  # {"2": 5}: only element 2 (how the UI writes one field)
        items = []
        for index, value in obj.items():
            if not index.isdigit() or int(index) >= t.nelems:
                raise BtfEncodeError(f"{path}: no element {index!r} in an array of {t.nelems}")
            items.append((int(index), value))
    elif isinstance(obj, list):
        if len(obj) > t.nelems:
            raise BtfEncodeError(f"{path}: {len(obj)} elements for an array of {t.nelems}")
        items = list(enumerate(obj))
    else:
        raise BtfEncodeError(f"{path}: expected a list of {t.nelems}, got {obj!r}")
    for i, value in items:
        _put(btf, t.type, value, buf, bit + i * esize * 8, f"{path}[{i}]", depth + 1)


def _integer(obj: Any, path: str) -> int:
    if isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, int):
        return obj
    if isinstance(obj, str):
        text = obj.strip()
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            pass
    raise BtfEncodeError(f"{path}: expected an integer, got {obj!r}")


def _enum_value(t: Enum, obj: Any, path: str) -> int:
    if isinstance(obj, str):
        for v in t.values:
            if v.name == obj:
                return v.value
        if not obj.strip().lstrip("+-").isdigit() and not obj.lower().startswith("0x"):
            names = ", ".join(v.name for v in t.values)
            raise BtfEncodeError(f"{path}: {obj!r} is not one of {names}")
    return _integer(obj, path)


def _put_int(
    buf: bytearray, bit: int, bits: int, signed: bool, value: int, path: str, either: bool = False
) -> None:
    """Write `value` in `bits` bits at bit `bit` (little-endian, as bitfields are laid out
    here). `either`: accept the signed and the unsigned range (bitfields and enums are
    shown as unsigned hex or signed numbers)."""
    low = -(1 << (bits - 1)) if signed or either else 0
    high = (1 << bits) - 1 if not signed or either else (1 << (bits - 1)) - 1
    if not low <= value <= high:
        kind = "signed" if signed else "unsigned"
        raise BtfEncodeError(f"{path}: {value} does not fit in {bits} {kind} bits ({low}..{high})")
    value &= (1 << bits) - 1
    first, shift = bit // 8, bit % 8
    nbytes = (shift + bits + 7) // 8
    old = int.from_bytes(buf[first : first + nbytes], "little")
    mask = ((1 << bits) - 1) << shift
    new = (old & ~mask) | (value << shift)
    buf[first : first + nbytes] = new.to_bytes(nbytes, "little")
