"""What the rows of the feature table share: the statuses, the Feature record, and the
Probe, which makes once what several rows ask about (the kernel's BTF, a probe program and
the length of the info struct the kernel fills)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass

from .. import _sys
from ..btf import Btf, parse_btf
from ..btf.types import BTFError, Enum, Kind, Struct
from ..errors import BPFError
from ..handles import Fd
from ..progs import load_program, return_imm

WORKS, DEGRADED, UNAVAILABLE = "works", "degraded", "unavailable"
STATUSES = (WORKS, DEGRADED, UNAVAILABLE)
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
PROBE_NAME = "phydev_probe"
_SOCKET_FILTER, _HASH, _ARRAY = 1, 1, 2


@dataclass(frozen=True)
class Feature:
    """One row of the feature table. `name` is a stable key (snake_case, `map_type:Hash`),
    `title` what it is for people, `detail` how the agent degrades or why it cannot."""

    name: str
    title: str
    status: str
    detail: str
    since: str | None

    @property
    def ok(self) -> bool:
        return self.status == WORKS


class Probe:
    """What several rows share, made once: the kernel's BTF, a probe program and its info
    length, a probe hash map. Close it to unload them."""

    def __init__(self) -> None:
        self._btf: Btf | BaseException | None = None
        self._btf_read = False
        self._prog: Fd | BaseException | None = None

    @property
    def btf(self) -> Btf | None:
        """The kernel's BTF, or None (`btf_problem` says why)."""
        if not self._btf_read:
            self._btf_read = True
            try:
                with open(VMLINUX_BTF, "rb") as f:
                    self._btf = parse_btf(f.read())
            except (OSError, BTFError) as exc:
                self._btf = exc
        return self._btf if isinstance(self._btf, Btf) else None

    @property
    def btf_problem(self) -> str:
        if self.btf is None and isinstance(self._btf, OSError):
            return (
                f"no {VMLINUX_BTF} ({self._btf.strerror}): a kernel without CONFIG_DEBUG_INFO_BTF"
            )
        return f"the kernel's BTF cannot be read: {self._btf}"

    def program(self) -> Fd:
        """A loaded `r0 = 0; exit` socket filter (raises the load's BPFError)."""
        if self._prog is None:
            try:
                self._prog = load_program(_SOCKET_FILTER, return_imm(0), name=PROBE_NAME)
            except BPFError as exc:
                self._prog = exc
        if isinstance(self._prog, BaseException):
            raise self._prog
        return self._prog

    def enum_names(self, enum: str) -> set[str] | None:
        """Names of the values of `enum NAME` in the kernel's BTF (None: no BTF or no such
        enum)."""
        btf = self.btf
        found = None if btf is None else btf.find(enum, Kind.ENUM)
        if btf is None or found is None:
            return None
        t = btf.type(found)
        return {v.name for v in t.values} if isinstance(t, Enum) else None

    def member_names(self, struct: str) -> set[str] | None:
        """Member names of `struct NAME`, looking into its anonymous unions and structs."""
        btf = self.btf
        found = None if btf is None else btf.find(struct, Kind.STRUCT)
        if btf is None or found is None:
            return None
        names: set[str] = set()

        def walk(type_id: int) -> None:
            t = btf.type(btf.resolve(type_id))
            for member in t.members if isinstance(t, Struct) else ():
                if member.name:
                    names.add(member.name)
                else:
                    walk(member.type)

        walk(found)
        return names

    def info_len(self, fd: Fd, info_type: type[ctypes.Structure]) -> int:
        """How many bytes of `info_type` the kernel filled: its own struct's size (it writes
        back min(ours, its own)), so fields beyond it do not exist on this kernel."""
        info = info_type()
        attr = _sys.InfoByFdAttr(bpf_fd=fd.fd, info_len=ctypes.sizeof(info), info=_sys.addr(info))
        _sys.bpf(_sys.Cmd.OBJ_GET_INFO_BY_FD, attr, what=PROBE_NAME)
        return int(attr.info_len)

    def close(self) -> None:
        if isinstance(self._prog, Fd):
            self._prog.close()


def _field_end(info_type: type[ctypes.Structure], field: str) -> int:
    member = getattr(info_type, field)
    return int(member.offset + member.size)


Row = tuple[str, str]  # (status, detail)


def _try(call: Callable[[], object]) -> BPFError | None:
    try:
        call()
    except BPFError as exc:
        return exc
    return None
