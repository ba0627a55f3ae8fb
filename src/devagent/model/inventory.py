"""Inventory: shares Snapshots, whole-map reads and what never changes among callers.

Consumers (GraphQL, metrics, CLI) never walk the kernel themselves: they ask an Inventory for
a Snapshot (devagent.model.snapshot), which reads each part on first use. A new snapshot is
made at most once per `max_age` seconds however many callers ask at the same time.

Between snapshots the Inventory keeps what cannot change: a map's info (type, sizes, flags,
name, BTF ids are fixed at creation, and ids are not reused while the map lives), so a new
snapshot reads infos only for maps it has not seen, after one id walk. No fd is held between
snapshots: holding one would keep a deleted map alive. Program infos are kept the same way
where the process loaded the program iterator (bpf.iter.programs): one pass of it gives every
program's id and run counters, and only programs not seen before are read in full
(model.program_infos); without it, programs are read afresh each time (their run counters
move). Links are always read afresh (they can be re-pointed or detached). Pins are found
by a PinScanner (bpf.pins), which reads again only bpffs directories whose mtime changed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from ..bpf import handles, objects
from ..bpf.agent_objects import Holders
from ..bpf.errors import BPFError
from ..bpf.features import Feature, probe_features
from ..bpf.info import MapInfo, ProgramInfo
from ..bpf.iter.walkers import Walkers, walkers
from ..bpf.map_types import memlock_is_static
from ..bpf.maps import MapDump, MapHandle
from ..bpf.pins import PinScanner
from .identity import ProgramIdentities
from .program_infos import ProgramInfoCache
from .snapshot import (
    Infos,
    Snapshot,
    Sources,
    _Lazy,
    read_memlocks,
    split_errors,
    take_snapshot,
)
from .workloads import WorkloadResolver

__all__ = ["Inventory", "Snapshot", "take_snapshot"]

T = TypeVar("T")


class MapInfoCache:
    """Map infos by id, kept across snapshots (they never change) and trimmed to the maps
    of the latest id walk. Thread-safe."""

    def __init__(self) -> None:
        self._infos: dict[int, MapInfo] = {}
        self._memlocks: dict[int, int] = {}  # of maps whose memlock never changes
        self._lock = threading.Lock()
        self.reads = 0  # infos read from the kernel (tests check that unchanged maps are not)

    def infos(self, ids: list[int]) -> Infos[MapInfo]:
        with self._lock:
            known = self._infos
            missing = [i for i in ids if i not in known]
        fresh, errors = split_errors(objects.list_maps(missing)) if missing else ({}, {})
        with self._lock:
            self.reads += len(missing)
            present = set(ids)
            self._infos = {i: m for i, m in {**self._infos, **fresh}.items() if i in present}
            infos = {i: self._infos[i] for i in ids if i in self._infos}
        return infos, errors

    def memlocks(self, maps: dict[int, MapInfo]) -> dict[int, int]:
        """memlock of each map, read from the kernel only for maps whose memory can change
        or that were not read before (bpf.map_types.memlock_is_static)."""
        with self._lock:
            known = dict(self._memlocks)
        fresh = read_memlocks({i: m for i, m in maps.items() if i not in known})
        with self._lock:
            self._memlocks = {
                i: v
                for i, v in {**known, **fresh}.items()
                if i in maps and memlock_is_static(maps[i])
            }
        return {i: fresh[i] if i in fresh else known[i] for i in maps if i in fresh or i in known}

    def forget(self) -> None:
        with self._lock:
            self._infos = {}
            self._memlocks = {}


class Inventory:
    """Shares Snapshots and whole-map reads among concurrent callers.

    Thread-safe. A snapshot younger than `max_age` seconds is reused; otherwise a new one is
    made (it reads its parts on first use, each once however many callers ask). Whole-map
    reads are cached per map for up to `max_age` and at most `max_cached_maps` maps, so paging
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
        iterators: Walkers | None = None,
    ) -> None:
        """`iterators`: where one pass of an iterator replaces a bpf() walk (bpf.iter.walkers;
        this process's own by default, which walks with bpf() until something starts it)."""
        self.bpf_dir = bpf_dir
        self.iterators = iterators or walkers
        self.host_root = host_root
        # Full names and metadata, kept per loaded program across snapshots (model.identity).
        self.identities = ProgramIdentities()
        # Which objects other phydev processes hold, judged once per object (the agent's
        # own iterators, bpf.agent_objects).
        self.agent_holders = Holders()
        self.max_age = max_age
        self.max_cached_maps = max_cached_maps
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._walks = 0
        self._dump_lock = threading.Lock()
        self._dumps: OrderedDict[int, tuple[float, _Lazy[MapDump]]] = OrderedDict()
        self.map_infos = MapInfoCache()
        self.program_infos = ProgramInfoCache()
        self.pin_scanner = PinScanner(bpf_dir)  # unchanged directories are not read again
        self._features: list[Feature] | None = None
        self._features_lock = threading.Lock()

    def features(self) -> list[Feature]:
        """What the kernel lets the agent do (bpf.features), probed on first use and kept:
        the kernel does not change while we run. The iterator rows say what this process's
        own iterators do rather than loading them again."""
        with self._features_lock:
            if self._features is None:
                self._features = probe_features(self.bpf_dir, self.iterators.report())
            return self._features

    def _sources(self) -> Sources:
        """The parts of one new snapshot: map infos through the cache, the rest afresh. The
        first part read counts one walk."""
        first = _Lazy(self._count_walk)

        def walked(read: Callable[..., T]) -> Callable[..., T]:
            def run(*args: object) -> T:
                first.get()
                return read(*args)

            return run

        reading = _Lazy(self.iterators.read_programs)  # None: walk with bpf() instead

        def program_ids() -> list[int]:
            got = reading.get()
            return list(handles.iter_program_ids()) if got is None else list(got.ids)

        def programs(ids: list[int]) -> Infos[ProgramInfo]:
            got = reading.get()
            if got is None:
                return split_errors(objects.list_programs(ids))
            return self.program_infos.infos(got)

        map_reading = _Lazy(self.iterators.read_maps)  # None: walk with bpf() instead

        def map_ids() -> list[int]:
            got = map_reading.get()
            return list(handles.iter_map_ids()) if got is None else list(got.ids)

        def kernel_counts() -> dict[int, int]:
            got = map_reading.get()
            return {} if got is None else got.kernel_counts()

        return Sources(
            program_ids=walked(program_ids),
            programs=walked(programs),
            map_ids=walked(map_ids),
            maps=walked(self.map_infos.infos),
            links=walked(lambda: split_errors(objects.list_links())),
            pins=walked(self.pin_scanner.scan),
            memlocks=self.map_infos.memlocks,
            kernel_counts=kernel_counts,
            own_objects=self.iterators.own_ids,
        )

    def _count_walk(self) -> None:
        with self._lock:
            self._walks += 1

    @property
    def walks(self) -> int:
        """How many snapshots have read the kernel (for tests and metrics)."""
        return self._walks

    def snapshot(self) -> Snapshot:
        """A snapshot at most `max_age` seconds old."""
        with self._lock:
            snap = self._snapshot
            if snap is None or self._clock() - snap.taken_at >= self.max_age:
                snap = self._snapshot = Snapshot(
                    self._sources(),
                    self._clock(),
                    identities=self.identities,
                    workloads=WorkloadResolver(self.host_root),
                    holders=self.agent_holders,
                )
            return snap

    def invalidate(self) -> None:
        """Forget cached state (after a write, so the next read sees it)."""
        with self._lock:
            self._snapshot = None
        with self._dump_lock:
            self._dumps.clear()
        self.map_infos.forget()
        self.program_infos.forget()
        self.pin_scanner.forget()

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
