"""Which eBPF objects are the agent's own: the iterators (bpf.iter) that a server or `phydev
top` loads to read the kernel, so that every view can tell them apart from the user's.

Each long-lived phydev process loads two iterator programs (`phydev_walk`, `phydev_maps`,
of type Tracing), one iter link for each and a per-CPU array (`phydev_cpus`). They run as
often as there are objects to walk (`phydev_walk` at ~1000 events/s on a host of 1000
programs) and so would rank among the user's busiest programs. They are recognised by
identity, never by name alone (a user's program may be called `phydev_walk`):

1. This process's own objects, exactly, by id: the iterators know the ids of the programs,
   links and map they loaded (`bpf.iter.walkers.Walkers.own_ids`).
2. Another phydev process's (another server, a `top`; those are "the agent's" as much):
   an object is theirs when both hold: it has one of the iterators' names and kinds (a
   Tracing program named `phydev_walk` or `phydev_maps`, a PerCPUArray named `phydev_cpus`,
   a link of such a program), and a phydev process holds an fd to it (/proc/PID/fd, how
   bpftool finds "pids"). A user's program of the same name is held by no phydev process;
   a phydev process that opens a user's object to read it (for microseconds) does not make
   it the agent's, as the object has not the iterators' name and kind. A phydev process is
   one whose command name is `phydev` (the console script, the container's entry point) or
   a Python running `-m devagent` or the `phydev` script.

The /proc scan runs only when some object has an iterator's name and kind and is not this
process's own: on a host without other phydev processes it costs nothing. Without the
privileges to read other processes' fds nothing of theirs is found, and their objects are
shown as the user's (never hidden wrongly).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from . import procfs
from .info import LinkInfo, MapInfo, ObjectError, ProgramInfo

# The names the iterators are loaded with (bpf.iter.programs and bpf.iter.maps use these).
WALK_PROGRAM_NAME = "phydev_walk"
MAPS_PROGRAM_NAME = "phydev_maps"
CPUS_MAP_NAME = "phydev_cpus"
PROGRAM_NAMES = frozenset((WALK_PROGRAM_NAME, MAPS_PROGRAM_NAME))
TRACING_PROGRAM = 26  # BPF_PROG_TYPE_TRACING
PERCPU_ARRAY_MAP = 6  # BPF_MAP_TYPE_PERCPU_ARRAY
ITER_LINK = 4  # BPF_LINK_TYPE_ITER
AGENT_COMMS = frozenset((b"phydev",))


# A NamedTuple, not a dataclass: listings import this module on every start, and dataclasses
# imports inspect (~6 ms of a ~45 ms `inspect progs list`).
class ObjectIds(NamedTuple):
    """Ids of programs, maps and links (of one process, or the agent's on the host)."""

    programs: frozenset[int] = frozenset()
    maps: frozenset[int] = frozenset()
    links: frozenset[int] = frozenset()

    def __or__(self, other: ObjectIds) -> ObjectIds:
        return ObjectIds(
            self.programs | other.programs, self.maps | other.maps, self.links | other.links
        )

    def of(self, kind: str) -> frozenset[int]:
        """The ids of one kind: "program", "map" or "link"."""
        return {"program": self.programs, "map": self.maps, "link": self.links}[kind]


NONE = ObjectIds()


def is_agent_process(pid: int) -> bool:
    """Whether process `pid` is a phydev process (False if it exited or is hidden)."""
    try:  # bytes: a command name need not be UTF-8
        with open(f"/proc/{pid}/comm", "rb") as f:
            comm = f.read().rstrip(b"\n")
    except OSError:
        return False
    if comm in AGENT_COMMS:
        return True
    if not comm.startswith(b"python"):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    if len(args) > 2 and args[1] == b"-m" and args[2].split(b".")[0] == b"devagent":
        return True
    return len(args) > 1 and os.path.basename(args[1]) in AGENT_COMMS


def agent_holdings(pids: Iterable[int] | None = None) -> ObjectIds:
    """Ids of the bpf objects that phydev processes hold an fd to (of `pids`, or of every
    process). Their iterators are among them; so, briefly, is what they are reading."""
    found: dict[str, set[int]] = {"program": set(), "map": set(), "link": set()}
    for pid in procfs.iter_pids() if pids is None else pids:
        if not is_agent_process(pid):
            continue
        for fd, target in procfs.iter_fds(pid):
            kind = procfs.FD_KINDS.get(target)
            if kind is None:
                continue
            value = procfs.read_fdinfo(pid, fd).get(procfs.ID_FIELDS[kind])
            if value and value.isdigit():
                found[kind].add(int(value))
    return ObjectIds(frozenset(found["program"]), frozenset(found["map"]), frozenset(found["link"]))


def looks_like_agent_program(prog: ProgramInfo) -> bool:
    """An iterator's name and kind (half of the rule: see the module's docstring)."""
    return prog.name in PROGRAM_NAMES and prog.type == TRACING_PROGRAM


def looks_like_agent_map(m: MapInfo) -> bool:
    """The iterators' map's name and kind."""
    return m.name == CPUS_MAP_NAME and m.type == PERCPU_ARRAY_MAP


class Holders:
    """Which objects phydev processes hold, asked for a few candidate ids at a time, with
    the verdicts kept: an iterator lives exactly as long as the phydev process holding it,
    and the kernel does not reuse the id of an object while it lives, so a verdict holds for
    the object's life. /proc is scanned only for candidates not judged before (a server
    next to a `phydev top` scans once, not at every snapshot). Thread-safe."""

    MAX_KEPT = 4096  # verdicts; a host rarely has more than a handful of candidates

    def __init__(self, scan: Callable[[], ObjectIds] = agent_holdings) -> None:
        self._scan = scan
        self._known: dict[tuple[str, int], bool] = {}
        self._lock = threading.Lock()
        self.scans = 0  # how many times /proc was scanned (tests read it)

    def __call__(self, kind: str, ids: Iterable[int]) -> frozenset[int]:
        """Those of `ids` (of kind program, map or link) that a phydev process holds."""
        wanted = list(ids)
        with self._lock:
            unknown = [i for i in wanted if (kind, i) not in self._known]
            if unknown:
                held = self._scan()
                self.scans += 1
                if len(self._known) + len(unknown) > self.MAX_KEPT:
                    self._known.clear()
                for i in unknown:
                    self._known[kind, i] = i in held.of(kind)
            return frozenset(i for i in wanted if self._known.get((kind, i)))


Held = Callable[[str, Iterable[int]], frozenset[int]]  # e.g. a Holders


def agent_programs(
    programs: Mapping[int, ProgramInfo], own: ObjectIds, held: Held
) -> frozenset[int]:
    """Ids of the agent's own programs among `programs` (own: this process's ids)."""
    maybe = [p.id for p in programs.values() if p.id not in own.programs
             and looks_like_agent_program(p)]  # fmt: skip
    theirs = held("program", maybe) if maybe else frozenset()
    return own.programs.intersection(programs) | theirs


def agent_maps(maps: Mapping[int, MapInfo], own: ObjectIds, held: Held) -> frozenset[int]:
    """Ids of the agent's own maps among `maps`."""
    maybe = [m.id for m in maps.values() if m.id not in own.maps and looks_like_agent_map(m)]
    theirs = held("map", maybe) if maybe else frozenset()
    return own.maps.intersection(maps) | theirs


def agent_links(
    links: Mapping[int, LinkInfo],
    own: ObjectIds,
    held: Held,
    is_agent_program: Callable[[int], bool],
) -> frozenset[int]:
    """Ids of the agent's own links among `links`: this process's, and those a phydev
    process holds that attach one of the agent's programs (`is_agent_program`)."""
    maybe = [link.id for link in links.values()
             if link.id not in own.links and is_agent_program(link.prog_id)]  # fmt: skip
    theirs = held("link", maybe) if maybe else frozenset()
    return own.links.intersection(links) | theirs


def mark_listing(
    kind: str, items: Iterable[ProgramInfo | MapInfo | LinkInfo | ObjectError]
) -> frozenset[int]:
    """The agent's own among the items of a CLI listing (kind: program, map or link), in a
    process that loaded no iterator of its own. For links, only the programs of iter links
    are read (by id): no other kind of link can attach an iterator."""
    from .errors import BPFError
    from .objects import get_program

    held = Holders()
    if kind == "program":
        return agent_programs({i.id: i for i in items if isinstance(i, ProgramInfo)}, NONE, held)
    if kind == "map":
        return agent_maps({i.id: i for i in items if isinstance(i, MapInfo)}, NONE, held)

    def is_agent_program(prog_id: int) -> bool:
        try:
            prog = get_program(prog_id)
        except BPFError:
            return False
        return looks_like_agent_program(prog) and bool(held("program", (prog_id,)))

    iter_links = {i.id: i for i in items if isinstance(i, LinkInfo) and i.type == ITER_LINK}
    return agent_links(iter_links, NONE, held, is_agent_program)
