"""Who a program is beyond its id: its full name and its `bpf_metadata_*` variables.

- The kernel keeps 15 characters of a program's name. Where the name fills them, the name of
  the program's main function in its BTF (the first func_info record) is the full one: the
  rule bpftool applies (`get_prog_full_name`), so both show the same names.
- A program may declare `bpf_metadata_<key>` variables in `.rodata`; libbpf binds that map to
  every program of the object, and bpftool's `prog show` prints them as "metadata". They are
  found the same way: an array map of one 4-byte-keyed value whose name contains `.rodata`
  and whose value has a BTF DATASEC type.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass

from . import _sys
from .btf import Btf, load_btf
from .btf.types import BTFError, Datasec, Func, Var
from .errors import BPFError
from .handles import get_info_by_fd, open_program
from .info import MapInfo, ProgramInfo
from .maps import MapHandle
from .prog_code import FUNC_INFO

TRUNCATED_NAME_LEN = _sys.OBJ_NAME_LEN - 1  # names this long may have been cut
METADATA_PREFIX = "bpf_metadata_"
_ARRAY = 2  # BPF_MAP_TYPE_ARRAY


def main_function_name(prog_id: int, btf_id: int) -> str | None:
    """The BTF name of the program's first function (func_info record 0), None without."""
    record = (ctypes.c_uint8 * FUNC_INFO.size)()
    info = _sys.ProgInfo(
        nr_func_info=1, func_info_rec_size=FUNC_INFO.size, func_info=_sys.addr(record)
    )
    try:
        with open_program(prog_id) as fd:
            get_info_by_fd(fd.fd, info, f"program {prog_id}")
        if not info.nr_func_info:
            return None
        _, type_id = FUNC_INFO.unpack(bytes(record))
        func = load_btf(btf_id).type(type_id)
    except (BPFError, BTFError):
        return None
    return func.name if isinstance(func, Func) and func.name else None


def program_full_name(prog: ProgramInfo) -> str:
    """The program's name, completed from its BTF when the kernel cut it (bpftool's rule)."""
    if len(prog.name) < TRUNCATED_NAME_LEN or not prog.btf_id or not prog.nr_func_info:
        return prog.name
    return main_function_name(prog.id, prog.btf_id) or prog.name


@dataclass(frozen=True)
class MetadataVar:
    """One `bpf_metadata_<key>` variable: its raw bytes and BTF type, to be rendered."""

    key: str  # without the prefix
    btf: Btf
    type_id: int
    data: bytes


def is_rodata_map(m: MapInfo) -> bool:
    """A global-data map that can hold metadata (bpftool's test in find_metadata)."""
    return (
        m.type == _ARRAY
        and m.key_size == 4
        and m.max_entries == 1
        and bool(m.btf_value_type_id)
        and ".rodata" in m.name
    )


def read_metadata(maps: Iterable[MapInfo]) -> list[MetadataVar]:
    """The metadata variables of the first `.rodata` map among a program's maps (as
    bpftool takes the first), in section order; [] when there is none or it vanished."""
    for m in maps:
        if not is_rodata_map(m):
            continue
        try:
            return _metadata_of(m)
        except (BPFError, BTFError):
            return []
    return []


def _metadata_of(m: MapInfo) -> list[MetadataVar]:
    with MapHandle.open(m.id, read_only=True) as handle:
        value = handle.lookup(bytes(4))
    btf = load_btf(m.btf_id)
    section = btf.type(m.btf_value_type_id)
    if value is None or not isinstance(section, Datasec):
        return []
    out = []
    for item in section.vars:
        var = btf.type(item.type)
        if isinstance(var, Var) and var.name.startswith(METADATA_PREFIX):
            data = value[item.offset : item.offset + item.size]
            out.append(MetadataVar(var.name[len(METADATA_PREFIX) :], btf, var.type, data))
    return out
