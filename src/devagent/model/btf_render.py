"""Render raw map keys and values through their BTF types, exactly as bpftool does.

The reference is what `bpftool -j map dump` (v7.1.0, btf_dumper.c) prints under "formatted",
so that our output and bpftool's can be compared value for value. Its rules, some surprising:

- structs and unions are objects keyed by member name; an anonymous member's key is "", and
  when several members share a key the last one's value wins (as in any JSON parser);
- a char array (elements `char` or CHAR-encoded 1-byte ints, through const/volatile but not
  typedefs) is a string only if its bytes up to a NUL are all printable ASCII and a NUL occurs;
  otherwise it is a list of (signed, for `char`) numbers;
- 8/16/32/64-bit ints are numbers; 128-bit ints and every bitfield (struct kind_flag
  bitfields, int encodings with a bit offset or an odd width, 24-bit ints...) are hex strings
  ("0x1f"), never sign-extended;
- an enum value is read as a signed integer of the enum's size and matched against each
  enumerator as a signed 32-bit value: its name when one matches, else the signed number.
  ENUM64 matches all 64 bits and falls back to the number as a signed 64-bit integer;
- pointers are unsigned numbers; bools are true when their first byte is non-zero;
- a global-data map's DATASEC value is {section: [{var: value}, ...]}.

Where bpftool v7.1.0 itself emits invalid JSON we render something sensible instead: floats
become Python floats (bpftool prints "(unsupported-kind"), a backslash in a string stays a
backslash (its json_writer prints "\\n"), and a type tag reached directly is looked through.

Each type id is compiled once into a closure `(data, offset) -> value` and cached per Btf, so a
dump of 100k entries never walks the type graph again.
"""

from __future__ import annotations

import re
import struct
import sys
import threading
import weakref
from collections.abc import Callable

from ..bpf.btf import Btf
from ..bpf.btf.types import (
    INT_BOOL,
    INT_CHAR,
    INT_SIGNED,
    MAX_RESOLVE_DEPTH,
    Array,
    BTFError,
    Datasec,
    Enum,
    Float,
    Int,
    Kind,
    Ref,
    Struct,
    Var,
)

Renderer = Callable[[bytes, int], object]
"""A compiled renderer: the value of its type found at `offset` in `data`."""

ValueRenderer = Callable[[bytes], object]

_LITTLE = sys.byteorder == "little"
_INT_FORMATS = {
    (8, False): "B", (16, False): "H", (32, False): "I", (64, False): "Q",
    (8, True): "b", (16, True): "h", (32, True): "i", (64, True): "q",
}  # fmt: skip
_ENUM_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}
_FLOAT_FORMATS = {2: "e", 4: "f", 8: "d"}
_PTR = struct.Struct("L")  # bpftool reads an unsigned long, in host order
_U64 = struct.Struct("=Q")
# bpftool's is_str_array: printable ASCII up to a NUL, and the NUL must be there.
_C_STRING = re.compile(rb"[\x20-\x7e]*\x00")
_SKIPPED_BY_LIBBPF_RESOLVE = frozenset(
    {Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG, Kind.VAR}
)
_MODS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})


def _bitfield(nr_bits: int, bit_offset: int) -> Renderer:
    """bpftool's btf_dumper_bitfield: `nr_bits` bits starting `bit_offset` bits into the data,
    as an unsigned hex string."""
    skip, bit_offset = bit_offset >> 3, bit_offset & 7
    nbytes = (bit_offset + nr_bits + 7) >> 3
    mask = (1 << nr_bits) - 1
    if _LITTLE:

        def little(data: bytes, off: int) -> object:
            raw = data[off + skip : off + skip + nbytes]
            return hex((int.from_bytes(raw, "little") >> bit_offset) & mask)

        return little
    shift = nbytes * 8 - bit_offset - nr_bits

    def big(data: bytes, off: int) -> object:
        raw = data[off + skip : off + skip + nbytes]
        return hex((int.from_bytes(raw, "big") >> shift) & mask)

    return big


def _int128(data: bytes, off: int) -> object:
    return hex(int.from_bytes(data[off : off + 16], sys.byteorder))


def _ptr(data: bytes, off: int) -> object:
    return _PTR.unpack_from(data, off)[0]


def _int_format(t: object) -> str | None:
    """The struct format of a plain (non-bitfield) 8/16/32/64-bit number, else None."""
    if not isinstance(t, Int) or t.bit_offset or t.encoding not in (0, INT_SIGNED):
        return None
    return _INT_FORMATS.get((t.bits, t.signed))


def _checked(r: Renderer, size: int, type_id: int, offset: int = 0) -> ValueRenderer:
    """`r` at `offset` of a whole value of type `type_id`, after checking the data holds one."""

    def render_value(data: bytes) -> object:
        if len(data) < size:
            raise BTFError(f"{len(data)} bytes of data for a {size}-byte BTF type {type_id}")
        try:
            return r(data, offset)
        except (struct.error, IndexError):
            # Damaged BTF (found by tests/fuzz): a member placed past its struct's size.
            raise BTFError(f"BTF type {type_id} reaches past its own {size} bytes") from None

    return render_value


class _Compiler:
    """Builds and caches the renderer of each (type id, bit offset) of one Btf."""

    def __init__(self, btf: Btf) -> None:
        # Weak: this compiler is the value of a WeakKeyDictionary keyed by the same Btf, and
        # a strong reference would keep both alive forever.
        self._btf = weakref.ref(btf)
        self.cache: dict[tuple[int, int], Renderer] = {}
        self.values: dict[int, ValueRenderer] = {}
        self.busy: set[tuple[int, int]] = set()
        self.lock = threading.RLock()

    @property
    def btf(self) -> Btf:
        btf = self._btf()
        if btf is None:  # only reachable through a compiler kept past its Btf
            raise BTFError("the BTF object of this renderer is gone")
        return btf

    def get(self, type_id: int, bit_offset: int = 0) -> Renderer:
        key = (type_id, bit_offset)
        r = self.cache.get(key)
        if r is not None:
            return r
        with self.lock:
            r = self.cache.get(key)
            if r is not None:
                return r
            if key in self.busy:
                raise BTFError(f"BTF type {type_id} contains itself")
            self.busy.add(key)
            try:
                r = self._compile(type_id, bit_offset)
            finally:
                self.busy.discard(key)
            self.cache[key] = r
            return r

    def value(self, type_id: int) -> ValueRenderer:
        """A renderer for a whole value, checking it is long enough for its type."""
        r = self.values.get(type_id)
        if r is not None:
            return r
        render_value = _checked(self.get(type_id), self.btf.size_of(type_id), type_id)
        self.values[type_id] = render_value
        return render_value

    def _libbpf_resolve(self, type_id: int) -> int:
        """btf__resolve_type: through typedefs, modifiers, type tags and vars."""
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self.btf.type(type_id)
            if t.kind not in _SKIPPED_BY_LIBBPF_RESOLVE:
                return type_id
            assert isinstance(t, Ref | Var)  # noqa: S101 narrowing: these kinds parse as Ref/Var
            type_id = t.type
        raise BTFError(f"BTF type chain from id {type_id} is too deep or loops")

    def _compile(self, type_id: int, bit_offset: int) -> Renderer:
        t = self.btf.type(type_id)
        if isinstance(t, Int):
            return self._int(t, bit_offset)
        if isinstance(t, Struct):
            return self._struct(t)
        if isinstance(t, Array):
            return self._array(t)
        if isinstance(t, Enum):
            return self._enum(t) if t.kind == Kind.ENUM else self._enum64(t)
        if t.kind == Kind.PTR:
            return _ptr
        if t.kind in _SKIPPED_BY_LIBBPF_RESOLVE and t.kind != Kind.VAR:
            return self.get(self._libbpf_resolve(type_id), bit_offset)
        if isinstance(t, Var):
            inner, name = self.get(t.type, bit_offset), t.name
            return lambda data, off: {name: inner(data, off)}
        if isinstance(t, Datasec):
            parts = [(v.offset, self.get(v.type)) for v in t.vars]
            sec = t.name
            return lambda data, off: {sec: [r(data, off + o) for o, r in parts]}
        if isinstance(t, Float):
            return self._float(t)
        raise BTFError(f"BTF type {type_id} ({t.kind.name}) has no value to render")

    def _int(self, t: Int, bit_offset: int) -> Renderer:
        if bit_offset or t.bit_offset or t.bits % 8:
            return _bitfield(t.bits, bit_offset + t.bit_offset)
        if t.bits == 128:
            return _int128
        if t.encoding in (0, INT_SIGNED):
            fmt = _int_format(t)
            if fmt is None:  # 24, 40, ... bits: bpftool prints these as bitfields
                return _bitfield(t.bits, 0)
            unpack = struct.Struct("=" + fmt).unpack_from
            return lambda data, off: unpack(data, off)[0]
        if t.encoding == INT_CHAR:  # "%c" when printable, else "\u00XX": the same character
            return lambda data, off: chr(data[off])
        if t.encoding == INT_BOOL:
            return lambda data, off: data[off] != 0
        raise BTFError(f"BTF int {t.name!r} has an invalid encoding {t.encoding}")

    def _struct(self, t: Struct) -> Renderer:
        fields: list[tuple[str, int, Renderer]] = []
        plain: list[tuple[int, str, str]] = []  # (byte offset, format, name)
        for m in t.members:
            skip, bits = m.bit_offset >> 3, m.bit_offset & 7
            if m.bitfield_size:
                fields.append((m.name, skip, _bitfield(m.bitfield_size, bits)))
                continue
            fields.append((m.name, skip, self.get(m.type, bits)))
            fmt = None if bits else _int_format(self.btf.type(self._libbpf_resolve(m.type)))
            if fmt is not None:
                plain.append((skip, fmt, m.name))
        fast = self._flat_struct(t, plain)
        if fast is not None:
            return fast
        return lambda data, off: {name: r(data, off + skip) for name, skip, r in fields}

    def _flat_struct(self, t: Struct, plain: list[tuple[int, str, str]]) -> Renderer | None:
        """One struct.unpack for a struct made only of plain numbers, laid out in order."""
        if t.is_union or len(plain) != len(t.members) or not plain:
            return None
        fmt, pos = "=", 0
        for skip, f, _ in plain:
            if skip < pos:
                return None
            fmt += f"{skip - pos}x{f}" if skip > pos else f
            pos = skip + struct.calcsize("=" + f)
        unpack = struct.Struct(fmt).unpack_from
        names = tuple(name for _, _, name in plain)
        return lambda data, off: dict(zip(names, unpack(data, off), strict=True))

    def _array(self, t: Array) -> Renderer:
        n = t.nelems
        elem_size = self.btf.size_of(t.type)
        fmt = _int_format(self.btf.type(self._libbpf_resolve(t.type)))
        if fmt is not None and struct.calcsize("=" + fmt) == elem_size:
            unpack = struct.Struct(f"={n}{fmt}").unpack_from

            def as_list(data: bytes, off: int) -> object:
                return list(unpack(data, off))

        else:
            elem = self.get(t.type)

            def as_list(data: bytes, off: int) -> object:
                return [elem(data, off + i * elem_size) for i in range(n)]

        if not n or not self._is_char(t.type):
            return as_list
        match = _C_STRING.match

        def as_string(data: bytes, off: int) -> object:
            m = match(data, off, off + n)
            return m.group()[:-1].decode("ascii") if m else as_list(data, off)

        return as_string

    def _is_char(self, type_id: int) -> bool:
        """bpftool's test for a string's element: through modifiers (not typedefs), a 1-byte
        int with the CHAR encoding or named "char"."""
        t = self.btf.type(type_id)
        for _ in range(MAX_RESOLVE_DEPTH):
            if t.kind not in _MODS:
                break
            assert isinstance(t, Ref)  # noqa: S101 narrowing: the parser makes modifiers Refs
            t = self.btf.type(t.type)
        return isinstance(t, Int) and t.size == 1 and (t.is_char or t.name == "char")

    def _enum(self, t: Enum) -> Renderer:
        fmt = _ENUM_FORMATS.get(t.size)
        if fmt is None:
            raise BTFError(f"BTF enum {t.name!r} has an invalid size {t.size}")
        names: dict[int, str] = {}
        for v in t.values:  # bpftool compares with the enumerator as a signed 32-bit value
            u = v.value & 0xFFFFFFFF
            names.setdefault(u - (1 << 32) if u >> 31 else u, v.name)
        unpack = struct.Struct("=" + fmt).unpack_from

        def enum(data: bytes, off: int) -> object:
            value = unpack(data, off)[0]
            return names.get(value, value)

        return enum

    def _enum64(self, t: Enum) -> Renderer:
        names: dict[int, str] = {}
        for v in t.values:
            names.setdefault(v.value & 0xFFFFFFFFFFFFFFFF, v.name)

        def enum64(data: bytes, off: int) -> object:
            raw = data[off : off + 8]  # bpftool reads 8 bytes whatever the enum's size
            value = _U64.unpack(raw)[0] if len(raw) == 8 else int.from_bytes(raw, sys.byteorder)
            name = names.get(value)
            if name is not None:
                return name
            return value - (1 << 64) if value >> 63 else value

        return enum64

    def _float(self, t: Float) -> Renderer:
        fmt = _FLOAT_FORMATS.get(t.size)
        if fmt is None:  # long double: no portable decoding, show the bits
            size = t.size
            return lambda data, off: hex(int.from_bytes(data[off : off + size], sys.byteorder))
        unpack = struct.Struct("=" + fmt).unpack_from
        return lambda data, off: unpack(data, off)[0]


_compilers: weakref.WeakKeyDictionary[Btf, _Compiler] = weakref.WeakKeyDictionary()
_compilers_lock = threading.Lock()


def _compiler(btf: Btf) -> _Compiler:
    c = _compilers.get(btf)
    if c is None:
        with _compilers_lock:
            c = _compilers.get(btf)
            if c is None:
                c = _compilers[btf] = _Compiler(btf)
    return c


# ---------------------------------------------------------------- public API


def compile_renderer(btf: Btf, type_id: int) -> ValueRenderer:
    """The (cached) renderer of values of `type_id`: call it with each value's bytes."""
    return _compiler(btf).value(type_id)


def render(btf: Btf, type_id: int, data: bytes) -> object:
    """`data` as a JSON-compatible value of type `type_id`, as bpftool formats it.

    Raises BTFError when `data` is shorter than the type or the type has no value (void,
    functions, forward declarations).
    """
    return compile_renderer(btf, type_id)(data)


def member_renderers(btf: Btf, type_id: int) -> list[tuple[str, ValueRenderer]]:
    """Each named member of a struct or union type with the renderer of its value (taking
    the whole struct's bytes); the members of anonymous struct/union members are lifted to
    the level above, as C names them. [] when the type is not a struct or union.

    Unlike the rendered object, where all anonymous members share the key "" and only the
    last survives (bpftool's output), this keeps every field: an anonymous union of IPv4 and
    IPv6 addresses gives both.
    """
    comp = _compiler(btf)
    out: list[tuple[str, ValueRenderer]] = []
    size = btf.size_of(type_id)

    def walk(tid: int, base: int, depth: int) -> None:
        t = btf.type(comp._libbpf_resolve(tid))
        if not isinstance(t, Struct) or depth > MAX_RESOLVE_DEPTH:
            return
        for m in t.members:
            bit = base + m.bit_offset
            if not m.name:
                if not m.bitfield_size:  # unnamed bitfields are padding
                    walk(m.type, bit, depth + 1)
                continue
            skip, bits = bit >> 3, bit & 7
            r = _bitfield(m.bitfield_size, bits) if m.bitfield_size else comp.get(m.type, bits)
            out.append((m.name, _checked(r, size, type_id, skip)))

    walk(type_id, 0, 0)
    return out
