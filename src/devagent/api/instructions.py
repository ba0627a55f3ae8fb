"""`Program.instructions(kind: XLATED|JITED)`: one record per instruction, with its pieces.

A UI lists `text` and can link what the record points at: the `map` it loads, the `target`
offset of a jump or subprogram call, the `callee` symbol of a call, the `function` that starts
at it and its `source` line. The decoding is bpf.xlated / bpf.jited, the same as the CLI's.
"""

from __future__ import annotations

from typing import Any

from ..bpf.jited import JitedInsn, disassemble_jited
from ..bpf.kallsyms import KernelSymbols
from ..bpf.prog_code import get_program_code
from ..bpf.xlated import SourceLine, XlatedInsn, disassemble
from .context import RequestContext, request_context
from .nodes import MapNode, ProgramNode, map_nodes


def _source(src: SourceLine | None) -> dict[str, Any]:
    if src is None:
        return {"source": None, "file": None, "line": None, "column": None}
    return {"source": src.text, "file": src.file, "line": src.line or None,
            "column": src.column or None}  # fmt: skip


def _map(ctx: RequestContext, map_id: int | None) -> MapNode | None:
    if map_id is None:
        return None
    nodes = map_nodes(ctx, [map_id])
    return nodes[0] if nodes else None


def _xlated(ctx: RequestContext, x: XlatedInsn) -> dict[str, Any]:
    return {
        "offset": x.pc,
        "text": x.text,
        "opcode": f"{x.insn.code:02x}",
        "operands": x.text.split(") ", 1)[1] if x.text.startswith("(") else x.text,
        "bytes": x.raw.hex(),
        "function": x.function,
        "symbol": None,
        "functionOffset": None,
        **_source(x.source),
        "map": _map(ctx, x.map_id),
        "mapValueOffset": x.map_value_offset,
        "callee": x.callee,
        "target": x.target,
    }


def _jited(x: JitedInsn) -> dict[str, Any]:
    return {
        "offset": x.offset,
        "text": x.text,
        "opcode": x.mnemonic,
        "operands": x.operands,
        "bytes": x.raw.hex(),
        "function": x.function,
        "symbol": x.symbol,
        "functionOffset": x.func_offset,
        **_source(x.source),
        "map": None,
        "mapValueOffset": None,
        "callee": x.callee,
        "target": None,
    }


def resolve_instructions(
    node: ProgramNode, info: Any, kind: str = "XLATED"
) -> list[dict[str, Any]]:
    """The program's instructions; an unknown program, or JIT code that cannot be shown
    (no capstone, an unknown CPU), is a GraphQL error that says why."""
    ctx = request_context(info)
    if node.prog is None:
        return []
    code = get_program_code(node.id)
    symbols = KernelSymbols.read_in_background()
    if kind == "JITED":
        return [_jited(x) for x in disassemble_jited(code, symbols)]
    return [_xlated(ctx, x) for x in disassemble(code, symbols)]
