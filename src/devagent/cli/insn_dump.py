"""`phydev inspect progs dump ID [xlated|jited]`: a program's instructions as text or JSON.

xlated text and JSON are bpftool's (`bpftool [-j] prog dump xlated id ID [opcodes|linum]`),
line for line, so that scripts and eyes used to it keep working; the JSON has a few keys more
(`pc`, `map` with the map's name, `target`, `callee`). jited follows bpftool's layout where
its libbfd build has one (`proto:` and `symbol:` above each function, `%4x:` offsets within the
function, one blank line after each function; JSON: one object per function with `insns`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..bpf.jited import JitedInsn
from ..bpf.xlated import SourceLine, XlatedInsn


def _hex_bytes(raw: bytes) -> str:
    return " ".join(f"{b:02x}" for b in raw)


def _source_text(src: SourceLine, linum: bool) -> str | None:
    """bpftool's `; source` line (None when the line text is not in the BTF)."""
    if src.text is None:
        return None
    if linum:
        return f"; {src.text} [file:{src.file or ''} line_num:{src.line} line_col:{src.column}]"
    return f"; {src.text}"


def _source_json(src: SourceLine, linum: bool, out: dict[str, object]) -> None:
    if src.text is not None:
        out["src"] = src.text
    if linum:
        if src.file is not None:
            out["file"] = src.file
        if src.line:
            out["line_num"] = src.line
        if src.column:
            out["line_col"] = src.column


def xlated_text(insns: Iterable[XlatedInsn], *, opcodes: bool, linum: bool) -> str:
    """The listing as `bpftool prog dump xlated` prints it."""
    lines: list[str] = []
    add = lines.append
    for x in insns:
        if x.function is not None:
            add(f"{x.function}:")
        if x.source is not None and (src := _source_text(x.source, linum)) is not None:
            add(src)
        add(f"{x.pc: 4d}: {x.text}")
        if opcodes:
            add("       " + _hex_bytes(x.raw))
    lines.append("")
    return "\n".join(lines)


def _opcodes_json(x: XlatedInsn) -> dict[str, object]:
    raw = x.raw
    imm = raw[4:8] + raw[8:16] if len(raw) > 8 else raw[4:8]
    return {
        "code": f"0x{x.insn.code:02x}",
        "src_reg": f"0x{x.insn.src:x}",
        "dst_reg": f"0x{x.insn.dst:x}",
        "off": [f"0x{b:02x}" for b in raw[2:4]],
        "imm": [f"0x{b:02x}" for b in imm],
    }


def xlated_json(
    insns: Iterable[XlatedInsn],
    map_name: Callable[[int], str | None],
    *,
    opcodes: bool,
    linum: bool,
) -> list[dict[str, object]]:
    """The listing as `bpftool -j prog dump xlated` prints it, plus `pc` on every
    instruction, `map` ({id, name[, offset]}) on map references, the `target` pc of jumps and
    subprogram calls, and the `callee` symbol of calls."""
    out: list[dict[str, object]] = []
    for x in insns:
        item: dict[str, object] = {"pc": x.pc}
        if x.function is not None:
            item["proto"] = x.function
        if x.source is not None:
            _source_json(x.source, linum, item)
        item["disasm"] = x.text
        if opcodes:
            item["opcodes"] = _opcodes_json(x)
        if x.map_id is not None:
            ref: dict[str, object] = {"id": x.map_id, "name": map_name(x.map_id)}
            if x.map_value_offset is not None:
                ref["offset"] = x.map_value_offset
            item["map"] = ref
        if x.target is not None:
            item["target"] = x.target
        if x.callee is not None:
            item["callee"] = x.callee
        out.append(item)
    return out


def _function_name(x: JitedInsn) -> str:
    return x.symbol or (f"0x{x.address:016x}" if x.address else "unknown")


def jited_text(insns: Iterable[JitedInsn], *, opcodes: bool, linum: bool) -> str:
    """The JIT code laid out as bpftool's libbfd build prints it."""
    lines: list[str] = []
    add = lines.append
    for x in insns:
        if x.func_offset == 0:
            if x.function_index:
                add("")
            if x.function is not None:
                add(f"{x.function}:")
            add(f"{_function_name(x)}:")
        if x.source is not None and (src := _source_text(x.source, linum)) is not None:
            add(src)
        text = f"{x.func_offset:4x}:\t{x.mnemonic}\t{x.operands}".rstrip("\t")
        if x.callee is not None:
            text += f"\t# {x.callee}"
        add(text)
        if opcodes:
            add("\t" + _hex_bytes(x.raw))
    lines.append("")
    return "\n".join(lines)


def split_operands(operands: str) -> list[str]:
    """Operands split at the commas between them (not those inside `(%rax, %rbx)` or
    `[x0, #8]`)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(operands):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(operands[start:i].strip())
            start = i + 1
    tail = operands[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def jited_json(
    insns: Iterable[JitedInsn], *, opcodes: bool, linum: bool
) -> list[dict[str, object]]:
    """One object per function ({proto, name, insns: [...]}, as bpftool -j): each instruction
    is {pc (hex, within the function), operation, operands, [opcodes], [src...]}, plus
    `offset` (in the whole image) and `callee` for direct calls to kernel symbols."""
    functions: list[dict[str, object]] = []
    current: list[dict[str, object]] = []
    for x in insns:
        if x.func_offset == 0:
            current = []
            head: dict[str, object] = {}
            if x.function is not None:
                head["proto"] = x.function
            head["name"] = _function_name(x)
            head["insns"] = current
            functions.append(head)
        item: dict[str, object] = {}
        if x.source is not None:
            _source_json(x.source, linum, item)
        item["pc"] = f"0x{x.func_offset:x}"
        item["offset"] = x.offset
        item["operation"] = x.mnemonic
        item["operands"] = split_operands(x.operands) or [None]
        if opcodes:
            item["opcodes"] = [f"0x{b:02x}" for b in x.raw]
        if x.callee is not None:
            item["callee"] = x.callee
        current.append(item)
    return functions


def _map_names(ids: Iterable[int]) -> dict[int, str]:
    from ..bpf.errors import BPFError
    from ..bpf.objects import get_map

    names = {}
    for map_id in set(ids):
        try:
            names[map_id] = get_map(map_id).name
        except BPFError:
            continue  # gone meanwhile: the reference stays, without a name
    return names


def dump_program(prog_id: int, kind: str, *, as_json: bool, opcodes: bool, linum: bool) -> bytes:
    """The whole output of `inspect progs dump` (JitUnavailable when jited cannot be shown)."""
    import orjson

    from ..bpf.jited import disassemble_jited
    from ..bpf.prog_code import get_program_code
    from ..bpf.xlated import disassemble

    code = get_program_code(prog_id)
    if kind == "jited":
        jited = disassemble_jited(code)
        if as_json:
            return orjson.dumps(jited_json(jited, opcodes=opcodes, linum=linum)) + b"\n"
        return jited_text(jited, opcodes=opcodes, linum=linum).encode()
    insns = disassemble(code)
    if as_json:
        names = _map_names(x.map_id for x in insns if x.map_id is not None)
        doc = xlated_json(insns, names.get, opcodes=opcodes, linum=linum)
        return orjson.dumps(doc) + b"\n"
    return xlated_text(insns, opcodes=opcodes, linum=linum).encode()
