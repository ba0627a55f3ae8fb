"""Function prototypes from BTF, spelled as bpftool prints them above each function of a
program dump (`int count_packets(struct __sk_buff * skb)`).

bpftool builds the text piece by piece (btf_dumper.c, `btf_dumper_type_only`): every type is
followed by a space and a pointer adds `* `, hence `struct __sk_buff * skb`; an unnamed
parameter drops the space before it. A kind it does not spell (type and declaration tags) makes
the whole prototype empty, and then bpftool prints no header line: so do we.
"""

from __future__ import annotations

from .parse import Btf
from .types import (
    MAX_RESOLVE_DEPTH,
    Array,
    BTFError,
    Func,
    FuncProto,
    Fwd,
    Kind,
    Ref,
    Var,
)

_NAMED_KINDS = {
    Kind.INT: "", Kind.TYPEDEF: "", Kind.FLOAT: "", Kind.STRUCT: "struct ",
    Kind.UNION: "union ", Kind.ENUM: "enum ", Kind.ENUM64: "enum ",
}  # fmt: skip
_QUALIFIERS = {Kind.VOLATILE: "volatile ", Kind.CONST: "const ", Kind.RESTRICT: "restrict "}


class _Unprintable(Exception):
    """A kind bpftool does not spell: the signature is empty."""


def _func(btf: Btf, out: list[str], proto: FuncProto, name: str | None, depth: int) -> None:
    _type(btf, out, proto.return_type, depth + 1)
    out.append(f"{name}(" if name is not None else "(")
    for i, param in enumerate(proto.params):
        if i:
            out.append(", ")
        if not param.type:
            out.append("...")
            continue
        _type(btf, out, param.type, depth + 1)
        if param.name:
            out.append(param.name)
        elif out and out[-1].endswith(" "):
            out[-1] = out[-1][:-1]
    out.append(")")


def _type(btf: Btf, out: list[str], type_id: int, depth: int) -> None:
    if depth > MAX_RESOLVE_DEPTH:
        raise BTFError(f"BTF type chain at id {type_id} is too deep or loops")
    if not type_id:
        out.append("void ")
        return
    t = btf.type(type_id)
    if t.kind in _NAMED_KINDS:
        out.append(f"{_NAMED_KINDS[t.kind]}{t.name} ")
    elif isinstance(t, Array):
        _type(btf, out, t.type, depth + 1)
        out.append(f"[{t.nelems}]")
    elif t.kind == Kind.PTR and isinstance(t, Ref):
        _type(btf, out, t.type, depth + 1)
        out.append("* ")
    elif isinstance(t, Fwd):
        out.append(f"{'union' if t.is_union else 'struct'} {t.name} ")
    elif t.kind in _QUALIFIERS and isinstance(t, Ref):
        out.append(_QUALIFIERS[t.kind])
        _type(btf, out, t.type, depth + 1)
    elif isinstance(t, FuncProto):
        _func(btf, out, t, None, depth)
    elif isinstance(t, Func):
        proto = btf.type(t.type)
        if not isinstance(proto, FuncProto):
            raise _Unprintable
        _func(btf, out, proto, t.name, depth)
    elif isinstance(t, Var):
        if t.linkage == 0:  # BTF_VAR_STATIC
            out.append("static ")
        _type(btf, out, t.type, depth + 1)
        out.append(f" {t.name}")
    elif t.kind == Kind.DATASEC:
        out.append(f'section ("{t.name}") ')
    else:
        raise _Unprintable


def type_only(btf: Btf, type_id: int) -> str:
    """bpftool's `btf_dumper_type_only` text of a type ("" when bpftool would print none)."""
    out: list[str] = []
    try:
        _type(btf, out, type_id, 0)
    except (_Unprintable, BTFError):
        return ""
    return "".join(out)
