"""A loaded program's code as the kernel hands it out (BPF_OBJ_GET_INFO_BY_FD): translated and
JIT-compiled instructions, per-function addresses and lengths, and the BTF func_info and
line_info records that tie them to function prototypes and source lines.

Reading takes two calls: the first learns the sizes of the arrays, the second passes buffers of
exactly those sizes (the kernel copies at most what it is told and reports the full counts).
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from . import _sys
from .handles import Fd, c_string, get_info_by_fd, open_program

FUNC_INFO = struct.Struct("<II")  # struct bpf_func_info: insn_off, type_id
LINE_INFO = struct.Struct("<IIII")  # struct bpf_line_info: insn_off, file, line, line_col


@dataclass(frozen=True, slots=True)
class FuncInfo:
    """A function of the program: where it starts (in instructions) and its BTF FUNC type."""

    insn_off: int
    type_id: int


@dataclass(frozen=True, slots=True)
class LineInfo:
    """A source position for the instruction at `insn_off`; names are BTF string offsets."""

    insn_off: int
    file_name_off: int
    line_off: int
    line_col: int

    @property
    def line(self) -> int:
        return self.line_col >> 10  # BPF_LINE_INFO_LINE_NUM

    @property
    def column(self) -> int:
        return self.line_col & 0x3FF  # BPF_LINE_INFO_LINE_COL


@dataclass(frozen=True)
class ProgramCode:
    """Everything needed to disassemble one program, read in one consistent pair of calls."""

    id: int
    name: str
    tag: str
    type: int
    btf_id: int
    map_ids: tuple[int, ...]
    xlated: bytes
    jited: bytes
    jited_ksyms: tuple[int, ...]  # start address of each function's JIT image
    jited_func_lens: tuple[int, ...]  # byte length of each function's JIT image
    func_info: tuple[FuncInfo, ...]
    line_info: tuple[LineInfo, ...]
    jited_line_info: tuple[int, ...]  # JIT address of each line_info record


def _records(raw: bytes, count: int, rec_size: int, layout: struct.Struct) -> list[tuple[int, ...]]:
    """Unpack `count` records of `rec_size` bytes each (a newer kernel's records may be
    longer than the fields we know; the known ones come first)."""
    if rec_size < layout.size:
        return []
    return [layout.unpack_from(raw, i * rec_size) for i in range(count)]


def read_program_code(fd: int | Fd, prog_id: int = 0) -> ProgramCode:
    """The code of the program at `fd` (any fd from PROG_GET_FD_BY_ID or a pin)."""
    fd = int(fd)
    what = f"program {prog_id}" if prog_id else "program"
    sizes = _sys.ProgInfo()
    get_info_by_fd(fd, sizes, what)
    u8s, u32s, u64s = ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint64
    xlated = (u8s * sizes.xlated_prog_len)()
    jited = (u8s * sizes.jited_prog_len)()
    ksyms = (u64s * sizes.nr_jited_ksyms)()
    func_lens = (u32s * sizes.nr_jited_func_lens)()
    map_ids = (u32s * sizes.nr_map_ids)()
    finfo = (u8s * (sizes.nr_func_info * sizes.func_info_rec_size))()
    linfo = (u8s * (sizes.nr_line_info * sizes.line_info_rec_size))()
    jlinfo = (u64s * sizes.nr_jited_line_info)()
    info = _sys.ProgInfo(
        xlated_prog_len=len(xlated),
        xlated_prog_insns=_sys.addr(xlated),
        jited_prog_len=len(jited),
        jited_prog_insns=_sys.addr(jited),
        nr_jited_ksyms=len(ksyms),
        jited_ksyms=_sys.addr(ksyms),
        nr_jited_func_lens=len(func_lens),
        jited_func_lens=_sys.addr(func_lens),
        nr_map_ids=len(map_ids),
        map_ids=_sys.addr(map_ids),
        nr_func_info=sizes.nr_func_info,
        func_info_rec_size=sizes.func_info_rec_size,
        func_info=_sys.addr(finfo),
        nr_line_info=sizes.nr_line_info,
        line_info_rec_size=sizes.line_info_rec_size,
        line_info=_sys.addr(linfo),
        nr_jited_line_info=len(jlinfo),
        jited_line_info_rec_size=sizes.jited_line_info_rec_size,
        jited_line_info=_sys.addr(jlinfo),
    )
    get_info_by_fd(fd, info, what)
    funcs = _records(bytes(finfo), info.nr_func_info, info.func_info_rec_size, FUNC_INFO)
    lines = _records(bytes(linfo), info.nr_line_info, info.line_info_rec_size, LINE_INFO)
    return ProgramCode(
        id=info.id,
        name=c_string(bytes(info.name)),
        tag=bytes(info.tag).hex(),
        type=info.type,
        btf_id=info.btf_id,
        map_ids=tuple(map_ids[: min(info.nr_map_ids, len(map_ids))]),
        xlated=bytes(xlated)[: info.xlated_prog_len],
        jited=bytes(jited)[: info.jited_prog_len],
        jited_ksyms=tuple(ksyms[: min(info.nr_jited_ksyms, len(ksyms))]),
        jited_func_lens=tuple(func_lens[: min(info.nr_jited_func_lens, len(func_lens))]),
        func_info=tuple(FuncInfo(*r) for r in funcs),
        line_info=tuple(LineInfo(*r) for r in lines),
        jited_line_info=tuple(jlinfo[: min(info.nr_jited_line_info, len(jlinfo))]),
    )


def get_program_code(prog_id: int) -> ProgramCode:
    """The code of program `prog_id`; NotFound when there is no such program."""
    with open_program(prog_id) as fd:
        return read_program_code(fd, prog_id)
