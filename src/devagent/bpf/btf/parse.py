"""A pure-Python reader for BTF, the type information the kernel keeps for programs and maps.

Map keys and values are raw bytes; BTF is what turns them into named fields. The kernel hands the
BTF blob out as-is (struct btf_header, the type section, the string section), so this module
parses that wire format itself rather than depending on libbpf.

Parsing is lazy on purpose: vmlinux BTF has over 100k types and a value dump touches a handful.
`parse_btf` only validates the header and walks the type section once to index where each type
record starts (which also rejects truncated records and unknown kinds); `Btf.type(id)` decodes
a record into a frozen dataclass on first use and caches it.

Type records are in types.py; rendering values (what `bpftool map dump` shows under
"formatted") in devagent.model.btf_render.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator

from ..errors import BPFError
from ..handles import iter_btf_ids, open_btf
from ..lru import Lru
from .objects import btf_info, read_btf_data
from .types import (
    MAX_RESOLVE_DEPTH,
    POINTER_SIZE,
    VOID,
    Array,
    BTFError,
    BtfType,
    Datasec,
    DeclTag,
    Enum,
    EnumValue,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Kind,
    Member,
    Param,
    Ref,
    Struct,
    Var,
    VarSecinfo,
)

BTF_MAGIC = 0xEB9F
_HEADER_FORMAT = "HBBIIIII"  # struct btf_header; the byte order comes from the magic
HEADER_SIZE = struct.calcsize("<" + _HEADER_FORMAT)  # 24

# Words (u32) after the 12-byte struct btf_type: a fixed part, plus one part per vlen item.
_FIXED_WORDS: dict[int, int] = {k: 0 for k in Kind if k != Kind.UNKN}
_FIXED_WORDS.update({Kind.INT: 1, Kind.ARRAY: 3, Kind.VAR: 1, Kind.DECL_TAG: 1})
_VLEN_WORDS: dict[int, int] = {
    Kind.STRUCT: 3, Kind.UNION: 3, Kind.ENUM: 2, Kind.FUNC_PROTO: 2, Kind.DATASEC: 3,
    Kind.ENUM64: 3,
}  # fmt: skip
_MODIFIERS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def _s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


# ---------------------------------------------------------------- the parsed blob


class Btf:
    """One parsed BTF object. Immutable from the outside; decoded types are cached inside.

    Type ids of a split BTF (a kernel module's, extending vmlinux) continue after its base's,
    and its string offsets continue after the base's string section; both are looked up in
    the base transparently.
    """

    __slots__ = (
        "__weakref__", "_base", "_decoded", "_names", "_offsets", "_sizes", "_start_id",
        "_str_start", "_strs", "_words",
    )  # fmt: skip

    def __init__(self, data: bytes, base: Btf | None = None) -> None:
        if len(data) < HEADER_SIZE:
            raise BTFError(f"BTF truncated: {len(data)} bytes, the header alone is {HEADER_SIZE}")
        order = "<"
        if struct.unpack_from("<H", data)[0] != BTF_MAGIC:
            order = ">"
            if struct.unpack_from(">H", data)[0] != BTF_MAGIC:
                raise BTFError(f"bad BTF magic {data[:2].hex()} (expected 0xeb9f)")
        _, version, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            order + _HEADER_FORMAT, data
        )
        if version != 1:
            raise BTFError(f"unsupported BTF version {version}")
        if hdr_len < HEADER_SIZE or hdr_len > len(data):
            raise BTFError(f"bad BTF header length {hdr_len}")
        t0, s0 = hdr_len + type_off, hdr_len + str_off
        if t0 + type_len > len(data) or s0 + str_len > len(data):
            raise BTFError(
                f"BTF truncated: sections end at {max(t0 + type_len, s0 + str_len)}, "
                f"data is {len(data)} bytes"
            )
        if type_len % 4:
            raise BTFError(f"BTF type section length {type_len} is not a multiple of 4")
        strs = data[s0 : s0 + str_len]
        if strs and strs[-1] != 0:
            raise BTFError("BTF string section is not NUL-terminated")
        if base is None and (not strs or strs[0] != 0):
            raise BTFError("BTF string section must start with an empty string")
        words = array("I")
        assert words.itemsize == 4  # noqa: S101 C unsigned int: 4 bytes on every Linux ABI
        words.frombytes(data[t0 : t0 + type_len])
        if (order == "<") != (sys.byteorder == "little"):
            words.byteswap()
        self._base = base
        self._start_id = base.type_count if base is not None else 1
        self._str_start = base.string_section_end if base is not None else 0
        self._strs = strs
        self._words = words
        self._offsets = _index_types(words)
        self._decoded: dict[int, BtfType] = {}
        self._sizes: dict[int, int] = {}
        self._names: array[int] | None = None  # each type's name offset, made by find()

    # ------------------------------------------------------------ ids and strings

    @property
    def base(self) -> Btf | None:
        """The BTF this one extends (vmlinux for a module), or None for standalone BTF."""
        return self._base

    @property
    def start_id(self) -> int:
        """The first type id defined here (1, or the base's type_count for split BTF)."""
        return self._start_id

    @property
    def type_count(self) -> int:
        """One past the last valid type id (counting void and the base's types)."""
        return self._start_id + len(self._offsets)

    @property
    def string_section_end(self) -> int:
        """Where string offsets of a BTF split off this one start."""
        return self._str_start + len(self._strs)

    def string(self, offset: int) -> str:
        """The NUL-terminated string at `offset` of the (base + own) string section."""
        if offset < self._str_start:
            assert self._base is not None  # noqa: S101 narrowing: _str_start is 0 without a base
            return self._base.string(offset)
        local = offset - self._str_start
        if local >= len(self._strs):
            raise BTFError(f"BTF string offset {offset} is out of range")
        end = self._strs.index(b"\0", local)
        return self._strs[local:end].decode("utf-8", "replace")

    def __len__(self) -> int:
        return self.type_count

    def __repr__(self) -> str:
        split = f", split from {self._start_id}" if self._base is not None else ""
        return f"<Btf {len(self._offsets)} types{split}>"

    # ------------------------------------------------------------ types

    def type(self, type_id: int) -> BtfType:
        """The type with id `type_id` (0 is void); BTFError if there is none."""
        t = self._decoded.get(type_id)
        if t is not None:
            return t
        if type_id < self._start_id:
            if type_id == 0:
                return VOID
            if self._base is None or type_id < 0:
                raise BTFError(f"BTF type id {type_id} is out of range")
            return self._base.type(type_id)
        idx = type_id - self._start_id
        if idx >= len(self._offsets):
            raise BTFError(f"BTF type id {type_id} is out of range (last is {self.type_count - 1})")
        t = self._decode(self._offsets[idx])
        self._decoded[type_id] = t
        return t

    def types(self) -> Iterator[tuple[int, BtfType]]:
        """(id, type) of the types defined here (not the base's), in id order."""
        for i in range(len(self._offsets)):
            yield self._start_id + i, self.type(self._start_id + i)

    def name_of(self, type_id: int) -> str:
        """The type's own name ("" for anonymous types and modifiers)."""
        return self.type(type_id).name

    def find(self, name: str, kind: Kind | None = None) -> int | None:
        """The first type id named `name` (of `kind` if given), searching the base first."""
        if self._base is not None:
            found = self._base.find(name, kind)
            if found is not None:
                return found
        for type_id in self._ids_named(name):
            if kind is None or self.type(type_id).kind == kind:
                return type_id
        return None

    def _ids_named(self, name: str) -> list[int]:
        """Ids of this BTF's own types named `name`: the name's string offsets, then a C-level
        scan of every type's name offset (a dict of all names held tens of MB for vmlinux)."""
        offsets = self._string_offsets(name.encode()) if name else []
        if self._names is None and offsets:
            # A generator, not a list: vmlinux's ~150k ints never live at once (a list's left
            # ~1.2 MiB of arenas pinned for good in the server by objects made meanwhile).
            words = self._words
            self._names = array("I", (words[w] for w in self._offsets))
        found, names = [], self._names or array("I")
        for offset in offsets:  # C-level scans; a name is rarely shared
            i = -1
            while offset in names[i + 1 :]:
                i = names.index(offset, i + 1)
                found.append(self._start_id + i)
        return sorted(found)

    def _string_offsets(self, key: bytes) -> list[int]:
        """Offsets of `key` in the (base + own) string section: split BTF may name a type
        with a string of its base."""
        strs, start = self._strs, self._str_start
        offsets = [start] if strs.startswith(key + b"\0") else []
        at = strs.find(b"\0" + key + b"\0")
        while at >= 0:
            offsets.append(start + at + 1)
            at = strs.find(b"\0" + key + b"\0", at + 1)
        return offsets + (self._base._string_offsets(key) if self._base is not None else [])

    def resolve(self, type_id: int) -> int:
        """Skip typedefs, const/volatile/restrict and type tags: the id of the real type."""
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self.type(type_id)
            if t.kind not in _MODIFIERS:
                return type_id
            assert isinstance(t, Ref)  # noqa: S101 narrowing: the parser makes modifiers Refs
            type_id = t.type
        raise BTFError(f"BTF type chain from id {type_id} is too deep or loops")

    def size_of(self, type_id: int) -> int:
        """Size in bytes of a value of this type (through typedefs, modifiers and vars)."""
        size = self._sizes.get(type_id)
        if size is not None:
            return size
        start, nelems = type_id, 1
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self.type(type_id)
            if isinstance(t, Int | Struct | Enum | Float | Datasec):
                size = nelems * t.size
                break
            if t.kind == Kind.PTR:
                size = nelems * POINTER_SIZE
                break
            if isinstance(t, Ref | Var):
                type_id = t.type
            elif isinstance(t, Array):
                nelems *= t.nelems
                type_id = t.type
            else:
                raise BTFError(f"BTF type {type_id} ({t.kind.name}) has no size")
        else:
            raise BTFError(f"BTF type chain from id {start} is too deep or loops")
        self._sizes[start] = size
        return size

    # ------------------------------------------------------------ decoding one record

    def _decode(self, w: int) -> BtfType:
        words, string = self._words, self.string
        info, sot = words[w + 1], words[w + 2]
        kind = Kind((info >> 24) & 0x1F)
        vlen, kflag = info & 0xFFFF, bool(info >> 31)
        name = string(words[w]) if words[w] else ""
        p = w + 3
        if kind == Kind.INT:
            enc = words[p]
            return Int(kind, name, sot, (enc >> 24) & 0x0F, (enc >> 16) & 0xFF, enc & 0xFF)
        if kind in (Kind.STRUCT, Kind.UNION):
            members = []
            for i in range(p, p + 3 * vlen, 3):
                off = words[i + 2]
                bits, off = (off >> 24, off & 0xFFFFFF) if kflag else (0, off)
                mname = string(words[i]) if words[i] else ""
                members.append(Member(mname, words[i + 1], off, bits))
            return Struct(kind, name, sot, tuple(members))
        if kind == Kind.ARRAY:
            return Array(kind, name, words[p], words[p + 1], words[p + 2])
        if kind in (Kind.ENUM, Kind.ENUM64):
            values = []
            step = 2 if kind == Kind.ENUM else 3
            for i in range(p, p + step * vlen, step):
                if kind == Kind.ENUM:
                    v = _s32(words[i + 1]) if kflag else words[i + 1]
                else:
                    v = words[i + 1] | (words[i + 2] << 32)
                    v = _s64(v) if kflag else v
                values.append(EnumValue(string(words[i]), v))
            return Enum(kind, name, sot, kflag, tuple(values))
        if kind == Kind.FWD:
            return Fwd(kind, name, kflag)
        if kind == Kind.FUNC:
            return Func(kind, name, sot, vlen)
        if kind == Kind.FUNC_PROTO:
            params = tuple(
                Param(string(words[i]) if words[i] else "", words[i + 1])
                for i in range(p, p + 2 * vlen, 2)
            )
            return FuncProto(kind, name, sot, params)
        if kind == Kind.VAR:
            return Var(kind, name, sot, words[p])
        if kind == Kind.DATASEC:
            vsi = tuple(
                VarSecinfo(words[i], words[i + 1], words[i + 2]) for i in range(p, p + 3 * vlen, 3)
            )
            return Datasec(kind, name, sot, vsi)
        if kind == Kind.FLOAT:
            return Float(kind, name, sot)
        if kind == Kind.DECL_TAG:
            return DeclTag(kind, name, sot, _s32(words[p]))
        return Ref(kind, name, sot)  # PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG


def _index_types(words: array[int]) -> array[int]:
    """Word offsets of each type record; rejects unknown kinds and truncated records."""
    offsets = array("I")
    fixed = [_FIXED_WORDS.get(k, -1) for k in range(32)]
    per_vlen = [_VLEN_WORDS.get(k, 0) for k in range(32)]
    append = offsets.append
    w, n = 0, len(words)
    while w < n:
        if w + 3 > n:
            raise BTFError(f"BTF type {len(offsets) + 1} is truncated")
        info = words[w + 1]
        kind = (info >> 24) & 0x1F
        extra = fixed[kind]
        if extra < 0:
            raise BTFError(f"BTF type {len(offsets) + 1} has unknown kind {kind}")
        append(w)
        w += 3 + extra + per_vlen[kind] * (info & 0xFFFF)
    if w != n:
        raise BTFError(f"BTF type {len(offsets)} is truncated")
    return offsets


# ---------------------------------------------------------------- loading


def parse_btf(data: bytes, base: Btf | None = None) -> Btf:
    """Parse a raw BTF blob; pass `base` (vmlinux) for split BTF such as a module's."""
    return Btf(bytes(data), base)


_cache: Lru[int, Btf] = Lru(64)


def _vmlinux_btf_id() -> int:
    for btf_id in iter_btf_ids():
        try:
            with open_btf(btf_id) as fd:
                info = btf_info(fd, btf_id)
        except BPFError:
            continue
        if info.kernel_btf and info.name == "vmlinux":
            return btf_id
    raise BTFError("the kernel has no vmlinux BTF object")


def load_btf(btf_id: int) -> Btf:
    """The parsed BTF object `btf_id` from the kernel (module BTF gets vmlinux as its base).

    Parsed objects are cached per process by id (BTF ids are allocated cyclically, so an id
    is not reused while the cache could plausibly hold it); BPFError (NotFound) if it is gone.
    """
    cached = _cache.get(btf_id)
    if cached is not None:
        return cached
    with open_btf(btf_id) as fd:
        info = btf_info(fd, btf_id)
    base = None
    if info.kernel_btf and info.name != "vmlinux":
        base = load_btf(_vmlinux_btf_id())
    btf = parse_btf(read_btf_data(btf_id), base)
    _cache.put(btf_id, btf)
    return btf


def clear_btf_cache() -> None:
    """Forget every parsed BTF object (tests, or after a long-running process's churn)."""
    _cache.clear()
