"""BTF type records as frozen dataclasses, and the kinds and flags of the wire format
(include/uapi/linux/btf.h). Plain data: the parser (parse.py) builds them, the renderers read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class BTFError(ValueError):
    """Malformed BTF, a type id that does not exist, or data that does not fit its type."""


class Kind(IntEnum):
    """BTF_KIND_* (include/uapi/linux/btf.h)."""

    UNKN = 0  # only type id 0, void
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# BTF_INT_ENCODING bits.
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4

MAX_RESOLVE_DEPTH = 32  # libbpf's bound on typedef/modifier chains; deeper means a loop
POINTER_SIZE = 8  # BPF pointers are 64-bit whatever the host


# ---------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class BtfType:
    """Fields common to every kind; `name` is "" for anonymous types."""

    kind: Kind
    name: str


@dataclass(frozen=True, slots=True)
class Void(BtfType):
    """Type id 0: `void`, no record of its own."""


@dataclass(frozen=True, slots=True)
class Int(BtfType):
    """An integer; `bit_offset`/`bits` describe where the value sits within `size` bytes."""

    size: int
    encoding: int
    bit_offset: int
    bits: int

    @property
    def signed(self) -> bool:
        return bool(self.encoding & INT_SIGNED)

    @property
    def is_char(self) -> bool:
        return bool(self.encoding & INT_CHAR)

    @property
    def is_bool(self) -> bool:
        return bool(self.encoding & INT_BOOL)


@dataclass(frozen=True, slots=True)
class Ref(BtfType):
    """A kind that only points at another type: PTR, TYPEDEF, VOLATILE, CONST, RESTRICT,
    TYPE_TAG (whose name is the tag)."""

    type: int


@dataclass(frozen=True, slots=True)
class Array(BtfType):
    type: int
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class Member:
    """A struct/union member; `bitfield_size` is 0 unless it is a kind_flag bitfield."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int


@dataclass(frozen=True, slots=True)
class Struct(BtfType):
    """STRUCT or UNION."""

    size: int
    members: tuple[Member, ...]

    @property
    def is_union(self) -> bool:
        return self.kind == Kind.UNION


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Enum(BtfType):
    """ENUM or ENUM64; values are decoded signed when `signed` (the kind_flag) is set."""

    size: int
    signed: bool
    values: tuple[EnumValue, ...]


@dataclass(frozen=True, slots=True)
class Fwd(BtfType):
    is_union: bool


@dataclass(frozen=True, slots=True)
class Func(BtfType):
    """A function; `type` is its FUNC_PROTO, linkage 0 static, 1 global, 2 extern."""

    type: int
    linkage: int


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: int


@dataclass(frozen=True, slots=True)
class FuncProto(BtfType):
    """A function signature; a last parameter with type 0 means `...`."""

    return_type: int
    params: tuple[Param, ...]


@dataclass(frozen=True, slots=True)
class Var(BtfType):
    type: int
    linkage: int


@dataclass(frozen=True, slots=True)
class VarSecinfo:
    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Datasec(BtfType):
    """An ELF section of global variables (.data, .bss, ...): what a global-data map holds."""

    size: int
    vars: tuple[VarSecinfo, ...]


@dataclass(frozen=True, slots=True)
class Float(BtfType):
    size: int


@dataclass(frozen=True, slots=True)
class DeclTag(BtfType):
    """A tag on `type`, or on its member/parameter `component_idx` (-1 for the type itself)."""

    type: int
    component_idx: int


VOID = Void(Kind.UNKN, "")
