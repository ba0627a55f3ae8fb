"""This process's BPF iterators (iter.frame), loaded once, and the readings that use them
where they are loaded and walk with bpf() where they are not.

Long-lived commands (the server, `top`) call `walkers.start()` once before their first
reading: BTF is parsed and both iterators are loaded and checked (~0.2 s). Where one cannot
be loaded, or for good after a read fails, readings walk with bpf() as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..agent_objects import NONE, ObjectIds
from ..btf import Btf, parse_btf
from ..btf.types import BTFError
from ..errors import BPFError
from ..run_counters import CounterReader, ProgramCounters
from .frame import IteratorUnavailable
from .maps import MapIterator, MapReading
from .programs import ProgramIterator, Reading

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


class Walkers:
    """This process's iterators, loaded once when a long-lived command asks for them.
    `programs` and `maps` are None until then, and where one cannot be used (`problems`
    says why)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self.programs: ProgramIterator | None = None
        self.maps: MapIterator | None = None
        self.problems: dict[str, str] = {}  # "programs"/"maps" -> why it is not used

    def start(self, on_problem: Callable[[str], None] | None = None) -> None:
        """Load the iterators (once per process; ~0.2 s, most of it parsing the kernel's
        BTF); `on_problem` hears why one cannot be loaded. Done before the first snapshot,
        so that every snapshot of a server lists the agent's own iterators."""
        with self._lock:
            if self._started:
                return
            self._started = True
        try:
            with open(VMLINUX_BTF, "rb") as f:
                btf: Btf | None = parse_btf(f.read())
        except (OSError, BTFError) as exc:
            btf = None
            reason = f"cannot read the kernel's BTF: {exc}"
            self.problems = {"programs": reason, "maps": reason}
        if btf is not None:
            for kind, opener in (("programs", ProgramIterator.open), ("maps", MapIterator.open)):
                try:
                    setattr(self, kind, opener(btf))
                except (IteratorUnavailable, BPFError, OSError) as exc:
                    self.problems[kind] = str(exc)
        if on_problem is not None:
            for kind, problem in self.problems.items():
                on_problem(f"{kind} are walked with bpf() calls: {problem}")

    def own_ids(self) -> ObjectIds:
        """The ids of the programs, links and map this process's iterators loaded (none
        before `start()` or once closed): the agent's own objects, exactly
        (bpf.agent_objects)."""
        ids = NONE
        for iterator in (self.programs, self.maps):
            if iterator is not None:
                ids = ids | iterator.own_ids
        return ids

    def report(self) -> dict[str, str | None]:
        """Per iterator ("programs", "maps"): None while this process uses it, else why not
        (what the feature table's iterator rows say; bpf.features)."""
        if not self._started:
            reason = "not loaded by this process (--no-program-iterator)"
            return {"programs": reason, "maps": reason}
        return {
            kind: None if getattr(self, kind) is not None else self.problems.get(kind, "unused")
            for kind in ("programs", "maps")
        }

    def read_programs(self) -> Reading | None:
        """One pass of the program iterator, or None (walk with bpf())."""
        return self._read("programs")  # type: ignore[no-any-return]

    def read_maps(self) -> MapReading | None:
        """One pass of the map iterator, or None (walk with bpf())."""
        return self._read("maps")  # type: ignore[no-any-return]

    def _read(self, kind: str) -> Any:
        iterator = getattr(self, kind)
        if iterator is None:
            return None
        try:
            return iterator.read()
        except (BPFError, OSError, ValueError) as exc:
            self.fail(kind, f"reading the {kind} iterator failed: {exc}")
            return None

    def close(self) -> None:
        """Unload both iterators (the process exiting does the same)."""
        self.fail("programs", "closed")
        self.fail("maps", "closed")

    def fail(self, kind: str, problem: str) -> None:
        """Stop using an iterator (a read failed): callers walk with bpf() from then on."""
        with self._lock:
            iterator = getattr(self, kind)
            setattr(self, kind, None)
            self.problems[kind] = problem
        if iterator is not None:
            iterator.close()


walkers = Walkers()


class CounterSource:
    """Every program's run counters: one pass of the program iterator where this process
    loaded it, else a bpf() walk (bpf.counters). Not thread-safe: one per thread."""

    def __init__(self, iterators: Walkers | None = None) -> None:
        self._walk = CounterReader()
        self._iterators = iterators or walkers

    def read(self) -> ProgramCounters:
        got = self._iterators.read_programs()
        if got is None:
            return self._walk.read()
        return ProgramCounters(
            time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.time(), got.ids,
            got.run_count, got.run_time_ns, got.recursion_misses, got.map_counts,
        )  # fmt: skip
