"""Short C-like names of BTF types for display (`struct flow_key`, `__u64`, `char[16]`)."""

from __future__ import annotations

from .parse import Btf
from .types import (
    MAX_RESOLVE_DEPTH,
    Array,
    BTFError,
    Datasec,
    DeclTag,
    Enum,
    Func,
    FuncProto,
    Fwd,
    Kind,
    Ref,
    Var,
)


def type_to_c(btf: Btf, type_id: int) -> str:
    """A short C-like name for display: `struct flow_key`, `__u64`, `char[16]`, `void *`."""
    return _c_name(btf, type_id, 0)


def _c_name(btf: Btf, type_id: int, depth: int) -> str:
    if depth > MAX_RESOLVE_DEPTH:
        raise BTFError(f"BTF type chain at id {type_id} is too deep or loops")
    t = btf.type(type_id)
    name = t.name or "(anon)"
    kind = t.kind
    if kind == Kind.UNKN:
        return "void"
    if kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
        return f"{'enum' if isinstance(t, Enum) else kind.name.lower()} {name}"
    if isinstance(t, Fwd):
        return f"{'union' if t.is_union else 'struct'} {name}"
    if isinstance(t, Array):
        dims = ""
        while isinstance(t, Array):
            dims += f"[{t.nelems}]"
            type_id = t.type
            t = btf.type(type_id)
        return f"{_c_name(btf, type_id, depth + 1)}{dims}"
    if isinstance(t, Ref):
        if kind == Kind.PTR:
            target = btf.type(t.type)
            if isinstance(target, FuncProto):
                return _proto(btf, target, "(*)", depth)
            inner = _c_name(btf, t.type, depth + 1)
            return f"{inner}*" if inner.endswith("*") else f"{inner} *"
        if kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            inner = _c_name(btf, t.type, depth + 1)
            qual = kind.name.lower()
            return f"{inner} {qual}" if inner.endswith("*") else f"{qual} {inner}"
        if kind == Kind.TYPE_TAG:
            return _c_name(btf, t.type, depth + 1)
        return name  # TYPEDEF
    if isinstance(t, Func):
        proto = btf.type(t.type)
        return _proto(btf, proto, name, depth) if isinstance(proto, FuncProto) else name
    if isinstance(t, FuncProto):
        return _proto(btf, t, "", depth)
    if isinstance(t, Var):
        return _c_name(btf, t.type, depth + 1)
    if isinstance(t, Datasec):
        return f"section {name}"
    if isinstance(t, DeclTag):
        return f'__attribute__((btf_decl_tag("{t.name}")))'
    return name  # INT, FLOAT


def _proto(btf: Btf, proto: FuncProto, middle: str, depth: int) -> str:
    args = [_c_name(btf, p.type, depth + 1) if p.type else "..." for p in proto.params]
    args = args or ["void"]
    ret = _c_name(btf, proto.return_type, depth + 1)
    return f"{ret} {middle}({', '.join(args)})".replace("  ", " ")
