"""One consistent view of the kernel's eBPF objects, read part by part as consumers ask.

A Snapshot reads nothing when it is made. Each part (program ids, program infos, map ids,
map infos, links, pins, owners, ...) is read on first use, once, however many threads ask
at the same time, and then kept: `{ programs { id } }` costs one id walk, a scrape reads
program and map infos but no pins, and a GraphQL request sees the same objects in every
resolver. Infos are read for exactly the ids of the same snapshot's id walk, so the parts
agree (an object unloaded in between is an ObjectError, never a hole).

Where the parts come from is given by a `Sources` (devagent.model.inventory makes one that
reuses what cannot have changed); `Snapshot.of` makes one from fixed data, for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..bpf import cgroups, handles, objects, procfs, tasks
from ..bpf.agent_objects import (
    NONE,
    Holders,
    ObjectIds,
    agent_links,
    agent_maps,
    agent_programs,
)
from ..bpf.errors import not_found
from ..bpf.info import LinkInfo, MapInfo, ObjectError, ProgramInfo
from ..bpf.pins import PinIndex, scan_pins
from .identity import KeyValue, ProgramIdentities
from .workloads import Workload, WorkloadResolver

T = TypeVar("T")
Infos = tuple[dict[int, T], dict[int, str]]  # (id -> info, id -> error text)


def _computed() -> Any:
    raise AssertionError("computed already")


class _Lazy(Generic[T]):
    """A value computed on first use, once, even when many threads ask at the same time."""

    __slots__ = ("_compute", "_done", "_lock", "_value")

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None

    def get(self) -> T:
        if not self._done:
            with self._lock:
                if not self._done:
                    self._value = self._compute()
                    self._done = True
                    # What computed it often refers to the snapshot holding this: let go, so
                    # the snapshot is freed by its reference count (see Snapshot).
                    self._compute = _computed
        return self._value  # type: ignore[return-value]


class _Shared(Generic[T]):
    """A value computed once and shared by every caller, each of whom brings its own
    `compute`: the first to take the lock runs *its* function. If that raises, the error is
    that caller's alone and nothing is kept (neither the error nor the function): the next
    caller computes with its own. So one request's deadline, cancellation or failure never
    reaches another, and no request's closure (which refers to the snapshot) stays behind."""

    __slots__ = ("_done", "_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None

    def get(self, compute: Callable[[], T]) -> T:
        if not self._done:
            with self._lock:
                if not self._done:
                    self._value = compute()
                    self._done = True
        return self._value  # type: ignore[return-value]


def split_errors(items: Iterable[T | ObjectError]) -> Infos[T]:
    """Infos by id, and the errors of objects that could not be read."""
    ok: dict[int, T] = {}
    errors: dict[int, str] = {}
    for item in items:
        if isinstance(item, ObjectError):
            errors[item.id] = item.error
        else:
            ok[item.id] = item  # type: ignore[attr-defined]
    return ok, errors


@dataclass(frozen=True)
class Sources:
    """How each part of a snapshot is read. The info readers get the ids of the same
    snapshot's id walk."""

    program_ids: Callable[[], list[int]]
    programs: Callable[[list[int]], Infos[ProgramInfo]]
    map_ids: Callable[[], list[int]]
    maps: Callable[[list[int]], Infos[MapInfo]]
    links: Callable[[], Infos[LinkInfo]]
    pins: Callable[[], PinIndex]
    memlocks: Callable[[dict[int, MapInfo]], dict[int, int]] = lambda maps: read_memlocks(maps)
    # Entry counts the kernel keeps (hash maps), by map id, from the same pass as map_ids
    # (bpf.iter.maps); empty where maps are walked with bpf().
    kernel_counts: Callable[[], dict[int, int]] = dict
    # The ids of the objects this process loaded for itself (bpf.iter.walkers.own_ids):
    # the agent's own, exactly; others' are found by bpf.agent_objects.
    own_objects: Callable[[], ObjectIds] = lambda: NONE


def read_memlocks(maps: dict[int, MapInfo]) -> dict[int, int]:
    """Bytes the kernel accounts to each map (fdinfo `memlock`); maps gone meanwhile or
    that do not say are left out."""
    out: dict[int, int] = {}
    for map_id in maps:
        value = objects.map_memlock(map_id)
        if value is not None:
            out[map_id] = value
    return out


def kernel_sources(bpf_dir: str) -> Sources:
    """Everything read afresh from the kernel (what the CLI wants for one command)."""
    return Sources(
        program_ids=lambda: list(handles.iter_program_ids()),
        programs=lambda ids: split_errors(objects.list_programs(ids)),
        map_ids=lambda: list(handles.iter_map_ids()),
        maps=lambda ids: split_errors(objects.list_maps(ids)),
        links=lambda: split_errors(objects.list_links()),
        pins=lambda: scan_pins(bpf_dir),
    )


class Snapshot:
    """Programs, maps and links as the kernel listed them, with their relations.

    Objects that could not be read are in `*_errors` (id -> message), so listings can show
    them as per-object errors.
    """

    def __init__(
        self,
        sources: Sources,
        taken_at: float | None = None,
        *,
        identities: ProgramIdentities | None = None,
        workloads: WorkloadResolver | None = None,
        holders: Holders | None = None,
    ) -> None:
        """`identities` carries full names and metadata over from earlier snapshots;
        `workloads` says where processes run (see model.workloads); `holders` keeps which
        objects phydev processes hold across snapshots (bpf.agent_objects)."""
        self.taken_at = time.monotonic() if taken_at is None else taken_at
        self.identities = identities or ProgramIdentities()
        self.workloads = workloads or WorkloadResolver()
        # No part refers back to the snapshot (the closures take the parts they need): a
        # snapshot is freed by its reference count when the next one replaces it. A cycle
        # would leave it, and its thousands of objects, to the collector's full
        # collections, which then ran every few UI polls and paused one for ~30 ms.
        program_ids = self._program_ids = _Lazy(sources.program_ids)
        programs = self._programs = _Lazy(lambda: sources.programs(program_ids.get()))
        map_ids = self._map_ids = _Lazy(sources.map_ids)
        maps = self._maps = _Lazy(lambda: sources.maps(map_ids.get()))
        links = self._links = _Lazy(sources.links)
        self._pins = _Lazy(sources.pins)
        self._memlocks = _Lazy(lambda: sources.memlocks(maps.get()[0]))
        self._kernel_counts = _Lazy(sources.kernel_counts)
        self._map_programs = _Lazy(lambda: _users_of_maps(programs.get()[0]))
        self._program_links = _Lazy(lambda: _links_of_programs(links.get()[0]))
        self._owners = _Lazy(procfs.scan_owners)
        self._tasks = _Lazy(tasks.scan_tasks)
        self._cgroups = _Lazy(lambda: _cgroup_paths(links.get()[0]))
        own, held = _Lazy(sources.own_objects), holders or Holders()
        agent = self._agent_programs = _Lazy(
            lambda: agent_programs(programs.get()[0], own.get(), held)
        )
        self._agent_maps = _Lazy(lambda: agent_maps(maps.get()[0], own.get(), held))
        self._agent_links = _Lazy(
            lambda: agent_links(links.get()[0], own.get(), held, agent.get().__contains__)
        )
        self._memos: dict[object, _Shared[object]] = {}
        self._memo_lock = threading.Lock()

    @classmethod
    def of(
        cls,
        programs: Iterable[ProgramInfo | ObjectError] = (),
        maps: Iterable[MapInfo | ObjectError] = (),
        links: Iterable[LinkInfo | ObjectError] = (),
        pins: PinIndex | None = None,
    ) -> Snapshot:
        """A snapshot of fixed objects (no kernel reads but owners, tasks and cgroups)."""
        p, m, li = split_errors(programs), split_errors(maps), split_errors(links)
        return cls(
            Sources(
                program_ids=lambda: sorted({*p[0], *p[1]}),
                programs=lambda _: p,
                map_ids=lambda: sorted({*m[0], *m[1]}),
                maps=lambda _: m,
                links=lambda: li,
                pins=lambda: pins if pins is not None else PinIndex(""),
            )
        )

    # ------------------------------------------------------------ the parts

    @property
    def program_ids(self) -> list[int]:
        """Ids of every program, ascending (one id walk; no info read)."""
        return self._program_ids.get()

    @property
    def programs(self) -> dict[int, ProgramInfo]:
        return self._programs.get()[0]

    @property
    def program_errors(self) -> dict[int, str]:
        return self._programs.get()[1]

    @property
    def map_ids(self) -> list[int]:
        """Ids of every map, ascending (one id walk; no info read)."""
        return self._map_ids.get()

    @property
    def maps(self) -> dict[int, MapInfo]:
        return self._maps.get()[0]

    @property
    def map_errors(self) -> dict[int, str]:
        return self._maps.get()[1]

    @property
    def links(self) -> dict[int, LinkInfo]:
        return self._links.get()[0]

    @property
    def link_errors(self) -> dict[int, str]:
        return self._links.get()[1]

    @property
    def pins(self) -> PinIndex:
        return self._pins.get()

    @property
    def memlocks(self) -> dict[int, int]:
        """Map id -> bytes the kernel accounts to it (fdinfo `memlock`), read once."""
        return self._memlocks.get()

    @property
    def kernel_entry_counts(self) -> dict[int, int]:
        """Map id -> entries, for the hash maps whose count the kernel keeps, where the map
        iterator walked this snapshot's maps (bpf.iter.maps); empty otherwise."""
        self.map_ids  # noqa: B018 (the same pass, so the two agree)
        return self._kernel_counts.get()

    @property
    def map_programs(self) -> dict[int, tuple[int, ...]]:
        """Map id -> ids of the programs using it."""
        return self._map_programs.get()

    @property
    def program_links(self) -> dict[int, tuple[int, ...]]:
        """Program id -> ids of the links attaching it."""
        return self._program_links.get()

    @property
    def agent_programs(self) -> frozenset[int]:
        """Ids of the agent's own programs (its iterators, of this or another phydev
        process; see bpf.agent_objects), read once."""
        return self._agent_programs.get()

    @property
    def agent_maps(self) -> frozenset[int]:
        """Ids of the agent's own maps (see agent_programs)."""
        return self._agent_maps.get()

    @property
    def agent_links(self) -> frozenset[int]:
        """Ids of the agent's own links: those attaching its programs."""
        return self._agent_links.get()

    def memo(self, key: object, compute: Callable[[], T]) -> T:
        """`compute()` once per snapshot and key, shared by every caller (a scrape and a UI
        poll of the same snapshot count map entries once). Derived views of the snapshot
        (map fill, memlock) live in their own modules and keep their results here."""
        with self._memo_lock:
            shared = self._memos.get(key)
            if shared is None:
                shared = self._memos[key] = _Shared()
        return shared.get(compute)  # type: ignore[return-value]

    # ------------------------------------------------------------ lookups

    def program(self, prog_id: int) -> ProgramInfo:
        """The program with this id; NotFound names the id when there is none."""
        try:
            return self.programs[prog_id]
        except KeyError:
            raise not_found("program", prog_id) from None

    def map(self, map_id: int) -> MapInfo:
        """The map with this id; NotFound names the id when there is none."""
        try:
            return self.maps[map_id]
        except KeyError:
            raise not_found("map", map_id) from None

    def link(self, link_id: int) -> LinkInfo:
        """The link with this id; NotFound names the id when there is none."""
        try:
            return self.links[link_id]
        except KeyError:
            raise not_found("link", link_id) from None

    def programs_using_map(self, map_id: int) -> list[ProgramInfo]:
        return [self.programs[p] for p in self.map_programs.get(map_id, ()) if p in self.programs]

    def maps_of_program(self, prog_id: int) -> list[MapInfo]:
        prog = self.programs.get(prog_id)
        if prog is None:
            return []
        return [self.maps[m] for m in prog.map_ids if m in self.maps]

    def links_of_program(self, prog_id: int) -> list[LinkInfo]:
        return [self.links[i] for i in self.program_links.get(prog_id, ()) if i in self.links]

    def map_pins(self, map_id: int) -> list[str]:
        return self.pins.maps.get(map_id, [])

    def program_pins(self, prog_id: int) -> list[str]:
        return self.pins.programs.get(prog_id, [])

    def link_pins(self, link_id: int) -> list[str]:
        return self.pins.links.get(link_id, [])

    def owners(self, kind: str, obj_id: int) -> list[procfs.Owner]:
        """Processes holding an fd to the object (kind: program, map or link)."""
        return self._owners.get()[kind].get(obj_id, [])

    def workload(self, pid: int) -> Workload:
        """Where process `pid` runs: cgroup, systemd unit, container, Kubernetes pod (read
        once per snapshot)."""
        return self.workloads.of_pid(pid)

    def full_name(self, prog_id: int) -> str:
        """The program's full name: its kernel name, or where the kernel cut that at 15
        characters, the BTF name of its main function (as bpftool shows it)."""
        return self.identities.full_name(self.program(prog_id))

    def metadata(self, prog_id: int) -> list[KeyValue]:
        """The program's `bpf_metadata_*` variables from its .rodata (bpftool's metadata)."""
        prog = self.program(prog_id)
        return self.identities.metadata(prog, self.maps_of_program(prog_id))

    def cgroup_path(self, cgroup_id: int) -> str | None:
        """Path of a cgroup that a link of this snapshot attaches to (one walk, on demand)."""
        return self._cgroups.get().get(cgroup_id)

    def tasks_of_program(self, prog_id: int) -> list[tasks.Task]:
        """Perf-event / raw-tracepoint attachments of the program held by processes."""
        return self._tasks.get().get(prog_id, [])

    def connected(self, start_kind: str, start_id: int) -> tuple[set[int], set[int], set[int]]:
        """Ids of (programs, maps, links) reachable from an object by program->maps,
        map->programs and program<->links edges. The start object must exist."""
        progs: set[int] = set()
        maps: set[int] = set()
        links: set[int] = set()
        if start_kind == "program":
            self.program(start_id)
            todo: list[tuple[str, int]] = [("program", start_id)]
        elif start_kind == "map":
            self.map(start_id)
            todo = [("map", start_id)]
        else:
            link = self.link(start_id)
            links.add(start_id)
            todo = [("program", link.prog_id)] if link.prog_id in self.programs else []
        while todo:
            kind, obj_id = todo.pop()
            if kind == "program":
                if obj_id in progs:
                    continue
                progs.add(obj_id)
                todo.extend(("map", m) for m in self.programs[obj_id].map_ids if m in self.maps)
                links.update(self.program_links.get(obj_id, ()))
            else:
                if obj_id in maps:
                    continue
                maps.add(obj_id)
                todo.extend(("program", p) for p in self.map_programs.get(obj_id, ()))
        return progs, maps, links


def _users_of_maps(programs: dict[int, ProgramInfo]) -> dict[int, tuple[int, ...]]:
    users: dict[int, list[int]] = {}
    for prog in programs.values():
        for map_id in prog.map_ids:
            users.setdefault(map_id, []).append(prog.id)
    return {k: tuple(v) for k, v in users.items()}


def _links_of_programs(links: dict[int, LinkInfo]) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = {}
    for link in links.values():
        out.setdefault(link.prog_id, []).append(link.id)
    return {k: tuple(v) for k, v in out.items()}


def _cgroup_paths(links: dict[int, LinkInfo]) -> dict[int, str]:
    wanted = {
        int(str(link.details["cgroup_id"]))
        for link in links.values()
        if "cgroup_id" in link.details
    }
    return cgroups.cgroup_paths(wanted)


def take_snapshot(
    bpf_dir: str, identities: ProgramIdentities | None = None, host_root: str = "/"
) -> Snapshot:
    """A snapshot reading everything afresh from the kernel, part by part on demand.
    `identities` carries full names and metadata over from earlier snapshots; `host_root` is
    where container runtimes' state is looked for (see model.workloads)."""
    return Snapshot(
        kernel_sources(bpf_dir), identities=identities, workloads=WorkloadResolver(host_root)
    )
