"""Program identity every consumer shows the same way: full names and metadata.

Both are fixed for the life of a loaded program, so they are computed once per program
(keyed by id and load time: ids are not reused while a program is loaded) and kept in a
bounded cache shared by the snapshots of one Inventory. The CLI, the GraphQL API, the metrics
and the live view all read them through `Snapshot.full_name` / `Snapshot.metadata`, or
`ProgramIdentities` directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..bpf.btf.types import BTFError
from ..bpf.info import MapInfo, ProgramInfo
from ..bpf.lru import Lru
from ..bpf.prog_identity import TRUNCATED_NAME_LEN, program_full_name, read_metadata
from .btf_render import render

T = TypeVar("T")


@dataclass(frozen=True)
class KeyValue:
    """One metadata variable: `bpf_metadata_<key>` and its value as text."""

    key: str
    value: str


def value_text(value: object) -> str:
    """A rendered BTF value as text: strings as they are, anything else as compact JSON
    (numbers in decimal, structs as objects), so `version = 7` reads `7`."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def program_metadata(maps: Iterable[MapInfo]) -> list[KeyValue]:
    """The program's `bpf_metadata_*` variables (bpftool's "metadata"), rendered as bpftool
    renders them and turned into text by `value_text`."""
    out = []
    for var in read_metadata(maps):
        try:
            value = render(var.btf, var.type_id, var.data)
        except BTFError as exc:
            value = f"<{exc}>"
        out.append(KeyValue(var.key, value_text(value)))
    return out


class ProgramIdentities:
    """Full names and metadata, computed once per loaded program (thread-safe, bounded)."""

    def __init__(self, max_programs: int = 8192) -> None:
        self._names: Lru[tuple[int, int], str] = Lru(max_programs)
        self._metadata: Lru[tuple[int, int], list[KeyValue]] = Lru(max_programs)

    @staticmethod
    def _cached(table: Lru[tuple[int, int], T], prog: ProgramInfo, compute: Callable[[], T]) -> T:
        key = (prog.id, prog.load_time_ns)
        value = table.get(key)
        if value is None:
            value = compute()
            table.put(key, value)
        return value

    def full_name(self, prog: ProgramInfo) -> str:
        """The program's name, completed from BTF where the kernel cut it at 15 characters."""
        if len(prog.name) < TRUNCATED_NAME_LEN:
            return prog.name  # nothing was cut: no need to remember it
        return self._cached(self._names, prog, lambda: program_full_name(prog))

    def metadata(self, prog: ProgramInfo, maps: Iterable[MapInfo]) -> list[KeyValue]:
        """The program's metadata; `maps` are the program's maps (from its map_ids)."""
        return self._cached(self._metadata, prog, lambda: program_metadata(maps))
