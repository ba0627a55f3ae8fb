"""The numeric fields of a BTF-typed map value, and each field's column over a whole read.

Why: sorting entries by a field (`entries(sortBy: "packets")`, `inspect maps dump --sort
packets`), exporting each field as a sample (`--etm ...:btf`) and editing one field in the UI
all need to know where each number sits in the value's bytes. The BTF renderer turns one
value into JSON; this module instead lists the fields once per type and reads one field of
every entry in one numpy operation, so sorting a million entries by a field costs what
sorting by the whole value does.

A field's path is C's way to name it: `stats.packets` for a nested struct, `counts[2]` for an
array element; members of anonymous structs and unions are lifted, as C lets you name them.
Numbers are ints (bitfields and a lone `char` included), enums, bools (0 or 1) and floats;
char arrays (strings, as bpftool shows them), pointers (kernel addresses are no metric, and
should not leak into one), 128-bit ints and padding are not fields here. Bitfields are read
little-endian (the only byte order the agent runs on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..bpf.btf import Btf
from ..bpf.btf.cnames import type_to_c
from ..bpf.btf.types import (
    MAX_RESOLVE_DEPTH,
    Array,
    BTFError,
    Enum,
    Float,
    Int,
    Kind,
    Ref,
    Struct,
)
from ..bpf.info import MapInfo

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Column = npt.NDArray[Any]  # uint64, int64 or float64

MAX_ARRAY_FIELDS = 64  # elements of one numeric array listed as fields; longer ones are not


@dataclass(frozen=True)
class NumericField:
    """One number inside a value: `bits` bits from bit `bit_offset` of the value."""

    path: str
    bit_offset: int
    bits: int
    signed: bool
    kind: str  # "int", "enum", "bool" or "float"
    type_name: str
    enum_names: tuple[str, ...] = ()

    @property
    def aligned(self) -> bool:
        """A whole 1, 2, 4 or 8-byte number at a byte offset (numpy reads it as such)."""
        return self.bit_offset % 8 == 0 and self.bits in (8, 16, 32, 64)

    @property
    def minimum(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def maximum(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


def numeric_fields(btf: Btf, type_id: int) -> list[NumericField]:
    """Every numeric field of values of `type_id`, in layout order; a plain number type
    gives one field with the path "" (the whole value)."""
    out: list[NumericField] = []
    _walk(btf, type_id, "", 0, 0, out)
    return out


def _walk(btf: Btf, type_id: int, path: str, bit: int, depth: int, out: list[NumericField]) -> None:
    if depth > MAX_RESOLVE_DEPTH:
        return
    tid = btf.resolve(type_id)
    t = btf.type(tid)
    name = type_to_c(btf, type_id)  # as written: __u64, not unsigned long long
    if isinstance(t, Int):
        if t.bits > 64 or t.bits == 0:
            return
        kind = "bool" if t.is_bool else "int"
        out.append(NumericField(path, bit + t.bit_offset, t.bits, t.signed, kind, name))
    elif isinstance(t, Enum):
        if t.size <= 8:
            names = tuple(v.name for v in t.values)
            out.append(NumericField(path, bit, t.size * 8, t.signed, "enum", name, names))
    elif isinstance(t, Float):
        if t.size in (4, 8):
            out.append(NumericField(path, bit, t.size * 8, True, "float", name))
    elif isinstance(t, Struct):
        for m in t.members:
            at = bit + m.bit_offset
            if not m.name:
                if not m.bitfield_size:  # unnamed bitfields are padding
                    _walk(btf, m.type, path, at, depth + 1, out)
                continue
            sub = f"{path}.{m.name}" if path else m.name
            if m.bitfield_size:
                inner = btf.type(btf.resolve(m.type))
                signed = isinstance(inner, Int) and inner.signed
                tname = type_to_c(btf, m.type)
                out.append(NumericField(sub, at, m.bitfield_size, signed, "int", tname))
            else:
                _walk(btf, m.type, sub, at, depth + 1, out)
    elif isinstance(t, Array) and t.nelems <= MAX_ARRAY_FIELDS and not _is_text(btf, t.type):
        size = btf.size_of(t.type) * 8
        for i in range(t.nelems):
            _walk(btf, t.type, f"{path}[{i}]", bit + i * size, depth + 1, out)


def _is_text(btf: Btf, elem: int) -> bool:
    """An array of `char` (through modifiers, not typedefs such as __u8) is a string, as
    bpftool shows it: not numbers."""
    t = btf.type(elem)
    for _ in range(MAX_RESOLVE_DEPTH):
        if t.kind not in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            break
        assert isinstance(t, Ref)  # noqa: S101 narrowing: modifiers parse as Refs
        t = btf.type(t.type)
    return isinstance(t, Int) and t.size == 1 and (t.is_char or t.name == "char")


def map_value_fields(info: MapInfo) -> list[NumericField] | None:
    """The numeric fields of a map's BTF value type; None without BTF for its values."""
    from .btf_entries import load_map_btf

    type_id = info.btf_value_type_id or info.btf_vmlinux_value_type_id
    btf = load_map_btf(info) if type_id else None
    if btf is None:
        return None
    try:
        return numeric_fields(btf, type_id)
    except BTFError:
        return None


def find_field(fields: list[NumericField], path: str) -> NumericField | None:
    """The field named `path` (a leading "." is allowed: `.packets`)."""
    wanted = path.removeprefix(".")
    return next((f for f in fields if f.path == wanted), None)


def field_column(values: npt.NDArray[np.uint8], field: NumericField) -> Column:
    """`field` of each row of `values` (rows of one value's bytes each, native-endian):
    uint64 for unsigned fields, int64 for signed ones, float64 for floats."""
    import numpy as np

    rows = values.shape[0]
    first = field.bit_offset // 8
    if field.aligned:
        width = field.bits // 8
        cells = np.ascontiguousarray(values[:, first : first + width])
        if field.kind == "float":
            return cells.view(f"=f{width}")[:, 0].astype(np.float64)
        code = f"=i{width}" if field.signed else f"=u{width}"
        column = cells.view(code)[:, 0]
        if field.kind == "bool":  # true when any bit is set, as bpftool and C read it
            truth: Column = (column != 0).astype(np.uint64)
            return truth
        return column.astype(np.int64 if field.signed else np.uint64)
    # A bitfield: the (at most 9) bytes that hold it, as one little-endian number.
    shift = field.bit_offset % 8
    nbytes = min((shift + field.bits + 7) // 8, values.shape[1] - first)
    acc = np.zeros(rows, dtype=np.uint64)
    for j in range(min(nbytes, 8)):
        acc |= values[:, first + j].astype(np.uint64) << np.uint64(8 * j)
    acc >>= np.uint64(shift)
    if nbytes > 8:  # a 64-bit field straddling a ninth byte
        acc |= values[:, first + 8].astype(np.uint64) << np.uint64(64 - shift)
    if field.bits < 64:
        acc &= np.uint64((1 << field.bits) - 1)
    if not field.signed:
        return acc
    signed = acc.view(np.int64).copy()
    if field.bits < 64:
        sign = np.int64(1 << (field.bits - 1))
        signed = (signed ^ sign) - sign
    return signed
