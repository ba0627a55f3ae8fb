"""The agent's own BPF iterators: a kernel walk of every program or map in one read().

Walking the kernel's objects through bpf() costs one GET_NEXT_ID per object, and three more
calls (GET_FD_BY_ID, OBJ_GET_INFO_BY_FD, close) for what changes: on the VMs we measure each
call costs 4-7 us in the kernel, so a poll over 1000 programs + 1000 maps paid ~20 ms before
any of its own work. A BPF iterator (`iter/bpf_prog`, `iter/bpf_map`) visits every object
inside the kernel and writes a fixed-size record per object into a seq_file; user space
reads it in one or two read() calls. iter.programs reads every program's run counters that
way, iter.maps every map's id and, for hash maps, the entry count the kernel keeps; both
programs are written with iter.asm.

Long-lived commands (the server, `top`) load the iterators once, on a background thread
(iter.walkers), and keep them until they exit; they show in listings as the agent's own programs
(`phydev_walk`, `phydev_maps`), links and map (`phydev_cpus`). Until they are loaded, and
wherever they cannot be (no BTF, no CAP_PERFMON, an older kernel, a failed check against
bpf()), callers walk with bpf() as before. No fd of any other object is held.
"""

from __future__ import annotations

import os
from array import array
from typing import Protocol, TypeVar

from .. import _sys
from .._sys import Cmd
from ..agent_objects import ObjectIds
from ..btf import Btf
from ..btf.types import Kind
from ..errors import BPFError
from ..handles import Fd
from ..insns import DW, JEQ
from ..progs import load_program
from .asm import R0, R1, R6, R7, Item, Label, assemble, exit_insn, jmp_imm, ldx_mem, mov64_imm

TRACING, TRACE_ITER = 26, 28  # BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER
# Helper ids (include/uapi/linux/bpf.h).
PROBE_READ_KERNEL, SEQ_WRITE, LOOKUP_PERCPU_ELEM = 113, 127, 195


class IteratorUnavailable(Exception):
    """An iterator cannot be used on this kernel or with these privileges (the message says
    why); callers walk with bpf() instead."""


def member_offset(btf: Btf, struct_name: str, member: str) -> int:
    """Byte offset of `member` in struct `struct_name` (looking into anonymous members);
    IteratorUnavailable names what the kernel's BTF lacks."""
    type_id = btf.find(struct_name, Kind.STRUCT)
    bits = None if type_id is None else _member_bits(btf, type_id, member)
    if bits is None or bits % 8:
        raise IteratorUnavailable(f"the kernel's BTF has no {struct_name}.{member}")
    return bits // 8


def _member_bits(btf: Btf, type_id: int, name: str) -> int | None:
    for member in getattr(btf.type(btf.resolve(type_id)), "members", ()):
        if member.name == name:
            return int(member.bit_offset)
        if not member.name:
            inner = _member_bits(btf, member.type, name)
            if inner is not None:
                return int(member.bit_offset) + inner
    return None


def function_id(btf: Btf, name: str) -> int:
    """BTF id of kernel function `name`; IteratorUnavailable if this kernel has none."""
    found = btf.find(name, Kind.FUNC)
    if found is None:
        raise IteratorUnavailable(f"the kernel has no {name}")
    return found


def iterator_program(body: list[Item]) -> bytes:
    """An iterator program around `body`, which runs for each object with r6 = ctx->meta
    and r7 = the object (ctx's second field); the last call, with no object, returns 0."""
    done = Label("done")
    return assemble([
        ldx_mem(DW, R6, R1, 0), ldx_mem(DW, R7, R1, 8), jmp_imm(JEQ, R7, 0, done),
        *body,
        done, mov64_imm(R0, 0), exit_insn(),
    ])  # fmt: skip


def record_words(data: bytes, size: int, signed: bool = False) -> tuple[array[int], array[int]]:
    """The iterator's output of `size`-byte records as 32-bit and as 64-bit words (native
    order, as the kernel wrote them): fields are then taken out with C-level slices."""
    if len(data) % size:
        raise ValueError(f"iterator output of {len(data)} bytes is not whole records")
    words, quads = array("I"), array("q" if signed else "Q")
    words.frombytes(data)
    quads.frombytes(data)
    return words, quads


class Checked(Protocol):
    def check(self) -> None: ...
    def close(self) -> None: ...


C = TypeVar("C", bound=Checked)


def checked(iterator: C) -> C:
    """The iterator once its check against bpf() passed; closed (unloaded) if it did not."""
    try:
        iterator.check()
    except BaseException:
        iterator.close()
        raise
    return iterator


def _ids_of(prog: Fd, link: Fd) -> ObjectIds:
    """The ids of an iterator's program and link: how every view tells them from the
    user's objects (bpf.agent_objects)."""
    from ..objects import link_info, program_info

    try:
        return ObjectIds(programs=frozenset((program_info(prog.fd).id,)),
                         links=frozenset((link_info(link.fd).id,)))  # fmt: skip
    except BPFError as exc:
        raise IteratorUnavailable(f"cannot read the ids of its program and link: {exc}") from exc


class LoadedIterator:
    """An iterator program and its link; each `read_bytes()` is one pass (any thread).
    `own_ids`: the ids of the two."""

    def __init__(self, code: bytes, attach_func: str, attach_id: int, name: str) -> None:
        try:
            self._prog = load_program(TRACING, code, name=name, expected_attach_type=TRACE_ITER,
                                      attach_btf_id=attach_id)  # fmt: skip
        except BPFError as exc:
            raise IteratorUnavailable(f"cannot load {name} ({attach_func}): {exc}") from exc
        attr = _sys.LinkCreateAttr(prog_fd=self._prog.fd, target=0, attach_type=TRACE_ITER)
        try:
            self._link = Fd(_sys.bpf(Cmd.LINK_CREATE, attr, what=f"iterator {name}"))
        except BPFError as exc:
            self._prog.close()
            raise IteratorUnavailable(f"cannot attach {name}: {exc}") from exc
        self.name = name
        try:
            self.own_ids = _ids_of(self._prog, self._link)
        except BaseException:
            self.close()
            raise

    def read_bytes(self) -> bytes:
        """The records of one pass over every object."""
        attr = _sys.IterCreateAttr(link_fd=self._link.fd)
        fd = _sys.bpf(Cmd.ITER_CREATE, attr, what=f"iterator {self.name}")
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)

    @property
    def program_id(self) -> int:
        """The iterator program's own id (its run count grows with each object visited)."""
        from ..objects import program_info

        return program_info(self._prog.fd).id

    def close(self) -> None:
        self._link.close()
        self._prog.close()
