"""How long each list of the schema can be, for the cost analysis in `limits`.

Sizes come from the request's snapshot and are computed on first use: a query that selects
only program ids is measured without reading every program's maps, links and pins. The
points of a `programStats` series come from the server's history (HistoryBound).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..model.attachments import all_attachments
from ..model.history import DEFAULT_CAPACITY
from ..model.inventory import Snapshot

if TYPE_CHECKING:
    from ..model.sampler import WatchedSampler

# Lists whose length is not in the snapshot without walking /proc: a generous guess.
PROCESS_GUESS = 8


@dataclass(frozen=True)
class MapGeometry:
    """What bounds the entries of a map: whether values are per CPU, and max_entries."""

    per_cpu: bool
    max_entries: int


@dataclass(frozen=True)
class HistoryBound:
    """How many points a `programStats` series holds: one reading every `interval` s over
    the `seconds` asked for, at most the `kept` readings of the history. The first two
    readings come closer together (the sampler's quick start), hence the two extra."""

    interval: float = 1.0
    kept: int = DEFAULT_CAPACITY

    @classmethod
    def of(cls, sampler: WatchedSampler | None) -> HistoryBound:
        """The bound of the server's own sampler (the defaults without one)."""
        if sampler is None:
            return cls()
        return cls(sampler.interval, sampler.history.capacity)

    def points(self, seconds: Any) -> int:
        """Points in the last `seconds` (0 for what the resolver refuses: seconds <= 0)."""
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            return 0
        return min(self.kept, math.ceil(seconds / self.interval) + 2)


@dataclass(frozen=True)
class ListSizes:
    """How long each list of the schema can be, taken from one snapshot."""

    programs: int
    maps: int
    links: int
    maps_per_program: int
    programs_per_map: int
    links_per_program: int
    attachments_per_program: int  # links, netlink, cgroup and perf-event ones (exact)
    pins_per_object: int
    flags_per_map: int  # the most map_flags bits set: each is one name in flagNames
    cpus: int
    any_map: MapGeometry  # the largest of all maps: for maps not known by id
    by_id: Mapping[int, MapGeometry]

    @classmethod
    def of(cls, snap: Snapshot, cpus: int) -> ListSizes:
        """The sizes of a snapshot, each read from it only when a measure asks for it:
        `{ programs { id } }` is measured with the program ids alone, as it is answered,
        instead of reading every program's info, link and pin to size lists it never
        selects."""
        return _SnapshotSizes(snap, cpus)


def _geometry(snap: Snapshot) -> dict[int, MapGeometry]:
    return {m.id: MapGeometry(m.is_per_cpu, m.max_entries) for m in snap.maps.values()}


def _largest(maps: Iterable[MapGeometry]) -> MapGeometry:
    """A geometry bounding every map's: per CPU if any is, the largest max_entries."""
    per_cpu, most = False, 0
    for g in maps:
        per_cpu, most = per_cpu or g.per_cpu, max(most, g.max_entries)
    return MapGeometry(per_cpu, most)


_FROM_SNAPSHOT: dict[str, Callable[[Snapshot], Any]] = {
    "programs": lambda s: len(s.program_ids),
    "maps": lambda s: len(s.map_ids),
    "links": lambda s: len(s.links) + len(s.link_errors),
    "maps_per_program": lambda s: max((len(p.map_ids) for p in s.programs.values()), default=0),
    "programs_per_map": lambda s: max(map(len, s.map_programs.values()), default=0),
    "links_per_program": lambda s: max(map(len, s.program_links.values()), default=0),
    # Exact: the attachments are computed once per snapshot, and a query selecting them
    # computes them right after anyway (model.attachments).
    "attachments_per_program": lambda s: max(map(len, all_attachments(s).values()), default=0),
    "pins_per_object": lambda s: max(
        map(len, [*s.pins.programs.values(), *s.pins.maps.values(), *s.pins.links.values()]),
        default=0,
    ),
    "flags_per_map": lambda s: max((m.flags.bit_count() for m in s.maps.values()), default=0),
    "by_id": _geometry,
    "any_map": lambda s: _largest(_geometry(s).values()),
}


class _SnapshotSizes(ListSizes):
    """ListSizes whose fields are computed from the snapshot on first use (and kept)."""

    def __init__(self, snap: Snapshot, cpus: int) -> None:  # no dataclass __init__: lazy
        object.__setattr__(self, "_snap", snap)
        object.__setattr__(self, "cpus", cpus)

    def __getattr__(self, name: str) -> Any:
        compute = _FROM_SNAPSHOT.get(name)
        if compute is None:
            raise AttributeError(name)
        value = compute(object.__getattribute__(self, "_snap"))
        object.__setattr__(self, name, value)
        return value
