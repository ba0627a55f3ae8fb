"""One consistent Snapshot of the kernel's eBPF objects, and a cache that shares it.

Consumers (GraphQL, metrics, CLI) never walk the kernel themselves: they ask an Inventory for a
Snapshot. A Snapshot is taken at most once per `max_age` seconds however many callers ask at
the same time (single flight: the others wait for the walk in progress and share its result).
Expensive extras (/proc walks for owners and tasks, whole-map reads) are computed lazily, once
per snapshot, and only when someone asks for them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..bpf import cgroups, objects, procfs, tasks
from ..bpf.errors import BPFError, NotFound
from ..bpf.info import LinkInfo, MapInfo, ObjectError, ProgramInfo
from ..bpf.maps import MapDump, MapHandle
from ..bpf.pins import PinIndex, scan_pins
from .identity import KeyValue, ProgramIdentities
from .workloads import Workload, WorkloadResolver

T = TypeVar("T")


class _Lazy(Generic[T]):
    """A value computed on first use, once, even when many threads ask at the same time."""

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
        return self._value  # type: ignore[return-value]


@dataclass
class Snapshot:
    """Programs, maps and links as the kernel listed them at `taken_at`, with relations.

    Objects that could not be read are kept in `*_errors` (id -> message) so listings can show
    them as per-object errors.
    """

    taken_at: float
    programs: dict[int, ProgramInfo]
    maps: dict[int, MapInfo]
    links: dict[int, LinkInfo]
    program_errors: dict[int, str]
    map_errors: dict[int, str]
    link_errors: dict[int, str]
    pins: PinIndex
    map_programs: dict[int, tuple[int, ...]] = field(default_factory=dict)
    program_links: dict[int, tuple[int, ...]] = field(default_factory=dict)
    _owners: _Lazy[dict[str, dict[int, list[procfs.Owner]]]] = field(
        default_factory=lambda: _Lazy(procfs.scan_owners), repr=False
    )
    _tasks: _Lazy[dict[int, list[tasks.Task]]] = field(
        default_factory=lambda: _Lazy(tasks.scan_tasks), repr=False
    )
    _cgroups: _Lazy[dict[int, str]] | None = field(default=None, repr=False)
    identities: ProgramIdentities = field(default_factory=ProgramIdentities, repr=False)
    workloads: WorkloadResolver = field(default_factory=WorkloadResolver, repr=False)

    def __post_init__(self) -> None:
        users: dict[int, list[int]] = {}
        for prog in self.programs.values():
            for map_id in prog.map_ids:
                users.setdefault(map_id, []).append(prog.id)
        self.map_programs = {k: tuple(v) for k, v in users.items()}
        links: dict[int, list[int]] = {}
        for link in self.links.values():
            links.setdefault(link.prog_id, []).append(link.id)
        self.program_links = {k: tuple(v) for k, v in links.items()}
        wanted = {
            int(str(link.details["cgroup_id"]))
            for link in self.links.values()
            if "cgroup_id" in link.details
        }
        self._cgroups = _Lazy(lambda: cgroups.cgroup_paths(wanted))

    # ------------------------------------------------------------ lookups

    def program(self, prog_id: int) -> ProgramInfo:
        """The program with this id; NotFound names the id when there is none."""
        try:
            return self.programs[prog_id]
        except KeyError:
            raise NotFound(2, "", f"program {prog_id}", "not found") from None

    def map(self, map_id: int) -> MapInfo:
        """The map with this id; NotFound names the id when there is none."""
        try:
            return self.maps[map_id]
        except KeyError:
            raise NotFound(2, "", f"map {map_id}", "not found") from None

    def link(self, link_id: int) -> LinkInfo:
        """The link with this id; NotFound names the id when there is none."""
        try:
            return self.links[link_id]
        except KeyError:
            raise NotFound(2, "", f"link {link_id}", "not found") from None

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

    def cgroup_path(self, cgroup_id: int) -> str | None:
        """Path of a cgroup that a link of this snapshot attaches to (one walk, on demand)."""
        assert self._cgroups is not None
        return self._cgroups.get().get(cgroup_id)

    def full_name(self, prog_id: int) -> str:
        """The program's full name: its kernel name, or where the kernel cut that at 15
        characters, the BTF name of its main function (as bpftool shows it)."""
        return self.identities.full_name(self.program(prog_id))

    def metadata(self, prog_id: int) -> list[KeyValue]:
        """The program's `bpf_metadata_*` variables from its .rodata (bpftool's metadata)."""
        prog = self.program(prog_id)
        return self.identities.metadata(prog, self.maps_of_program(prog_id))

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


def _split(items: list[T | ObjectError]) -> tuple[dict[int, T], dict[int, str]]:
    ok: dict[int, T] = {}
    errors: dict[int, str] = {}
    for item in items:
        if isinstance(item, ObjectError):
            errors[item.id] = item.error
        else:
            ok[item.id] = item  # type: ignore[attr-defined]
    return ok, errors


def take_snapshot(
    bpf_dir: str, identities: ProgramIdentities | None = None, host_root: str = "/"
) -> Snapshot:
    """Walk the kernel once: every program, map and link, and the pins under `bpf_dir`.
    `identities` carries full names and metadata over from earlier snapshots; `host_root` is
    where container runtimes' state is looked for (see model.workloads)."""
    programs, program_errors = _split(objects.list_programs())
    maps, map_errors = _split(objects.list_maps())
    links, link_errors = _split(objects.list_links())
    return Snapshot(
        taken_at=time.monotonic(),
        programs=programs,
        maps=maps,
        links=links,
        program_errors=program_errors,
        map_errors=map_errors,
        link_errors=link_errors,
        pins=scan_pins(bpf_dir),
        identities=identities or ProgramIdentities(),
        workloads=WorkloadResolver(host_root),
    )


class Inventory:
    """Shares Snapshots and whole-map reads among concurrent callers.

    Thread-safe. A snapshot younger than `max_age` seconds is reused; otherwise the first caller
    takes a new one while the others wait for it (single flight). Whole-map reads are cached
    the same way, per map, for up to `max_age` and at most `max_cached_maps` maps, so paging
    through a big map does not re-read it for each page.
    """

    def __init__(
        self,
        bpf_dir: str = "/sys/fs/bpf",
        *,
        max_age: float = 1.0,
        max_cached_maps: int = 4,
        clock: Callable[[], float] = time.monotonic,
        host_root: str = "/",
    ) -> None:
        self.bpf_dir = bpf_dir
        self.host_root = host_root
        self.max_age = max_age
        self.max_cached_maps = max_cached_maps
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._walks = 0
        self._dump_lock = threading.Lock()
        self._dumps: OrderedDict[int, tuple[float, _Lazy[MapDump]]] = OrderedDict()
        self.identities = ProgramIdentities()

    @property
    def walks(self) -> int:
        """How many kernel walks this inventory has made (for tests and metrics)."""
        return self._walks

    def snapshot(self) -> Snapshot:
        """A snapshot at most `max_age` seconds old."""
        with self._lock:
            snap = self._snapshot
            if snap is None or self._clock() - snap.taken_at >= self.max_age:
                snap = take_snapshot(self.bpf_dir, self.identities, self.host_root)
                snap.taken_at = self._clock()
                self._snapshot = snap
                self._walks += 1
            return snap

    def invalidate(self) -> None:
        """Forget cached state (after a write, so the next read sees it)."""
        with self._lock:
            self._snapshot = None
        with self._dump_lock:
            self._dumps.clear()

    def invalidate_map(self, map_id: int) -> None:
        """Forget the cached whole-map read of one map (after writing to it)."""
        with self._dump_lock:
            self._dumps.pop(map_id, None)

    def map_dump(self, map_id: int) -> MapDump:
        """Every entry of map `map_id`, read at most `max_age` seconds ago.

        Raises NotFound if the map is gone, NotSupported if its type cannot be listed.
        """
        now = self._clock()
        with self._dump_lock:
            self._drop_stale_dumps(now)
            cached = self._dumps.get(map_id)
            if cached is None or now - cached[0] >= self.max_age:
                cached = (now, _Lazy(lambda: _read_map(map_id)))
                self._dumps[map_id] = cached
            self._dumps.move_to_end(map_id)
            while len(self._dumps) > self.max_cached_maps:
                self._dumps.popitem(last=False)
        try:
            return cached[1].get()
        except BPFError:
            with self._dump_lock:
                if self._dumps.get(map_id) is cached:
                    del self._dumps[map_id]
            raise

    def drop_stale_dumps(self) -> None:
        """Release whole-map reads too old to be served again (a big map's read is tens of
        MB; an idle server should not keep it)."""
        with self._dump_lock:
            self._drop_stale_dumps(self._clock())

    def _drop_stale_dumps(self, now: float) -> None:
        for map_id in [m for m, (at, _) in self._dumps.items() if now - at >= self.max_age]:
            del self._dumps[map_id]


def _read_map(map_id: int) -> MapDump:
    with MapHandle.open(map_id, read_only=True) as handle:
        return handle.read_all()
