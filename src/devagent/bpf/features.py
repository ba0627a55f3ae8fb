"""What the running kernel can do for the agent, probed the way `bpftool feature probe` and
cilium/ebpf's `features` package do: by trying it, never by the kernel's version number.

Kernel builds differ even at one version (a distribution backports a feature, a build leaves
out BTF, a security policy refuses a map type), so each row comes from the kernel itself: a
tiny program or map created and closed again, the size of an info struct the kernel writes
back, the enums and structs of the kernel's own BTF. Every row says whether the agent uses
the feature (`works`), does the next best thing without it (`degraded`, and how) or cannot
offer what depends on it (`unavailable`, and why); `since` is the first mainline kernel that
has it, for people deciding what to run, never for deciding what to try.

Probing creates a few short-lived objects (named `phydev_probe`) and attaches nothing.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import _sys
from .btf import Btf, parse_btf
from .btf_types import BTFError, Enum, Kind, Struct
from .errors import BPFError
from .handles import Fd, iter_btf_ids, iter_link_ids, iter_program_ids
from .map_types import listing_refusal
from .maps import create_map
from .names import MAP_TYPES, PROG_TYPES
from .progs import load_program, return_imm

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


# ---------------------------------------------------------------- the rows


def probe_bpf_syscall(_: Probe) -> Row:
    failure = _try(lambda: next(iter_program_ids(), None))
    if failure is not None:
        return UNAVAILABLE, f"bpf() cannot list programs: {failure}"
    return WORKS, "programs, maps and BTF objects are listed by id"


def probe_links(_: Probe) -> Row:
    failure = _try(lambda: next(iter_link_ids(), None))
    if failure is None:
        return WORKS, "links are listed by id"
    return UNAVAILABLE, f"links have no ids on this kernel ({failure.strerror}): none are listed"


def probe_run_stats(probe: Probe) -> Row:
    end = _field_end(_sys.ProgInfo, "run_cnt")
    if probe.info_len(probe.program(), _sys.ProgInfo) < end:
        return UNAVAILABLE, "bpf_prog_info has no run_cnt/run_time_ns: no run counts or rates"
    if not os.path.exists("/proc/sys/kernel/bpf_stats_enabled"):
        return DEGRADED, "no kernel.bpf_stats_enabled sysctl: statistics only through an fd"
    return WORKS, "run counts and times in bpf_prog_info, sysctl kernel.bpf_stats_enabled"


def probe_enable_stats(probe: Probe) -> Row:
    known = probe.enum_names("bpf_cmd")
    if known is None:  # no BTF to ask: try it (statistics stay on for a few microseconds)
        attr = _sys.EnableStatsAttr(type=_sys.BPF_STATS_RUN_TIME)
        failure = _try(lambda: Fd(_sys.bpf(_sys.Cmd.ENABLE_STATS, attr)).close())
        has = failure is None
    else:
        has = "BPF_ENABLE_STATS" in known
    if has:
        return WORKS, "BPF_ENABLE_STATS: `top` and `server --enable-stats` turn statistics on"
    return DEGRADED, (
        "no BPF_ENABLE_STATS: run counts move only with sysctl kernel.bpf_stats_enabled=1 "
        "(`top` and `--enable-stats` cannot turn them on)"
    )


def _optional_info_fields(probe: Probe) -> Row:
    have = probe.info_len(probe.program(), _sys.ProgInfo)
    missing = [
        f"{field} ({since})"
        for field, since in (
            ("recursion_misses", "5.12"),
            ("verified_insns", "5.16"),
            ("attach_btf_obj_id", "5.19"),
        )
        if have < _field_end(_sys.ProgInfo, field)
    ]
    if missing:
        return DEGRADED, "bpf_prog_info lacks " + ", ".join(missing) + ": shown as null"
    return WORKS, "every bpf_prog_info field the agent shows"


def probe_batch_lookup(_: Probe) -> Row:
    with create_map(_HASH, 4, 8, 1, name=PROBE_NAME) as fd:
        keys, values, token = (ctypes.create_string_buffer(8) for _ in range(3))
        attr = _sys.MapBatchAttr(out_batch=_sys.addr(token), keys=_sys.addr(keys),
                                 values=_sys.addr(values), count=1, map_fd=fd.fd)  # fmt: skip
        failure = _try(lambda: _sys.bpf(_sys.Cmd.MAP_LOOKUP_BATCH, attr))
    if failure is None or failure.errno == errno.ENOENT:
        return WORKS, "BPF_MAP_LOOKUP_BATCH: whole maps are read 16k entries per call"
    return DEGRADED, (
        f"no BPF_MAP_LOOKUP_BATCH ({failure.strerror}): maps are read key by key, two bpf() "
        "calls per entry (dumps and fill counts are slower)"
    )


def probe_test_run(probe: Probe) -> Row:
    from .replay import TestRunAttr

    data = ctypes.create_string_buffer(64)
    attr = TestRunAttr(prog_fd=probe.program().fd, data_size_in=64, data_in=_sys.addr(data))
    failure = _try(lambda: _sys.bpf(_sys.Cmd.PROG_TEST_RUN, attr))
    if failure is None:
        return WORKS, "BPF_PROG_TEST_RUN: `inspect progs run` and the testRun mutation"
    return UNAVAILABLE, f"BPF_PROG_TEST_RUN refused a socket filter: {failure.strerror}"


def probe_task_fd_query(probe: Probe) -> Row:
    attr = _sys.TaskFdQueryAttr(pid=os.getpid(), fd=probe.program().fd)
    failure = _try(lambda: _sys.bpf(_sys.Cmd.TASK_FD_QUERY, attr))
    # A program fd is not a perf event: a kernel with the command says so (ENOTSUPP/EBADF).
    if failure is not None and failure.errno == errno.EINVAL:
        return UNAVAILABLE, "no BPF_TASK_FD_QUERY: programs show no tasks (perf-event attachments)"
    return WORKS, "BPF_TASK_FD_QUERY: the tasks of tracepoint, kprobe and uprobe programs"


def probe_vmlinux_btf(probe: Probe) -> Row:
    if probe.btf is None:
        return DEGRADED, (
            f"{probe.btf_problem}: the agent's iterators cannot be loaded (walks use bpf() "
            "calls); program and map BTF still decode"
        )
    return WORKS, f"{VMLINUX_BTF}: struct layouts for the iterators, kernel type names"


def probe_object_btf(_: Probe) -> Row:
    failure = _try(lambda: next(iter_btf_ids(), None))
    if failure is None:
        return WORKS, "BTF of programs and maps: full names, `--format btf`, source lines"
    return UNAVAILABLE, f"BTF objects cannot be listed ({failure.strerror}): no BTF formats"


# What each of the agent's iterators reads (devagent.bpf.walkers names them by these keys).
_ITERATES = {"programs": "programs' run counters", "maps": "map ids and hash maps' entry counts"}


def _iterator_row(kind: str, why_not: str | None) -> Row:
    what = _ITERATES[kind]
    if why_not is None:
        return WORKS, f"{what} are read in one pass of the agent's own BPF iterator"
    return DEGRADED, f"{what} are walked with bpf() calls (slower on big hosts): {why_not}"


def probe_program_iterator(probe: Probe) -> Row:
    return _iterator_row("programs", _iterator_problem(probe, "programs"))


def probe_map_iterator(probe: Probe) -> Row:
    return _iterator_row("maps", _iterator_problem(probe, "maps"))


def _iterator_problem(probe: Probe, kind: str) -> str | None:
    """Load the agent's iterator, check it against bpf() and unload it: why not, or None."""
    from .bpf_iter import IteratorUnavailable
    from .map_iter import MapIterator
    from .prog_iter import ProgramIterator

    btf = probe.btf
    if btf is None:
        return probe.btf_problem
    opener = ProgramIterator.open if kind == "programs" else MapIterator.open
    try:
        opener(btf).close()
    except (IteratorUnavailable, BPFError, OSError) as exc:
        return str(exc)
    return None


# enum bpf_link_type value name -> the member of bpf_link_info's union that describes it.
_LINK_INFO_SINCE = {
    "raw_tracepoint": "5.8", "tracing": "5.8", "cgroup": "5.8", "iter": "5.9", "netns": "5.8",
    "xdp": "5.9", "perf_event": "6.6", "kprobe_multi": "6.6", "struct_ops": "6.4",
    "netfilter": "6.4", "tcx": "6.6", "uprobe_multi": "6.6", "netkit": "6.7", "sockmap": "6.10",
}  # fmt: skip


def probe_link_details(probe: Probe) -> Row:
    types = probe.enum_names("bpf_link_type")
    members = probe.member_names("bpf_link_info")
    if types is None or members is None:
        return DEGRADED, f"{probe.btf_problem}: which link types have details is unknown"
    kernel_types = {
        name.removeprefix("BPF_LINK_TYPE_").lower()
        for name in types
        if name not in ("BPF_LINK_TYPE_UNSPEC", "MAX_BPF_LINK_TYPE", "__MAX_BPF_LINK_TYPE")
    }
    bare = sorted(t for t in kernel_types if t not in members)
    if not bare:
        return WORKS, "attach details of every link type this kernel has"
    names = ", ".join(f"{t} (details from {_LINK_INFO_SINCE.get(t, '?')})" for t in bare)
    return DEGRADED, f"links of these types are shown without attach details: {names}"


def probe_jit(probe: Probe) -> Row:
    from .objects import program_info

    if program_info(probe.program()).jited_size == 0:
        return UNAVAILABLE, "the kernel does not JIT programs (net.core.bpf_jit_enable=0)"
    return WORKS, "programs are JIT-compiled: `inspect progs dump ID jited` (with capstone)"


def probe_kallsyms(_: Probe) -> Row:
    try:
        with open("/proc/kallsyms") as f:
            first = f.readline().split()
    except OSError as exc:
        return DEGRADED, f"/proc/kallsyms cannot be read ({exc.strerror}): calls show ids only"
    if not first or int(first[0], 16) == 0:
        return DEGRADED, "kernel addresses are hidden (kernel.kptr_restrict): calls show ids only"
    return WORKS, "kernel symbols name helper, kfunc and subprogram calls in dumps"


def probe_kprobes(_: Probe) -> Row:
    if os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
        return WORKS, "kprobe programs can attach here; the agent shows their tasks"
    return UNAVAILABLE, "the kernel has no kprobes (CONFIG_KPROBES): no kprobe programs to show"


def probe_bpffs(bpf_dir: str) -> Row:
    if not os.path.isdir(bpf_dir):
        return DEGRADED, f"no directory {bpf_dir}: pins are not shown"
    if _mount_type(bpf_dir) != "bpf":
        return DEGRADED, (
            f"{bpf_dir} is not a bpf filesystem: pins are not shown (mount -t bpf bpf {bpf_dir})"
        )
    return WORKS, f"pins under {bpf_dir}"


def _mount_type(path: str) -> str | None:
    """The filesystem type of the mount `path` is on, from /proc/self/mounts."""
    real = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                target = parts[1].replace("\\040", " ")
                inside = real == target or real.startswith(target.rstrip("/") + "/")
                if inside and len(target) >= len(best):
                    best, kind = target, parts[2]
    except OSError:
        return None
    return kind


# ---------------------------------------------------------------- map and program types

# (key size, value size, max entries, flags) to create a map of each type with no BTF;
# None: it needs BTF or other objects to be created, so only the kernel's BTF is asked.
MAP_SPECS: dict[str, tuple[int, int, int, int] | None] = {
    "Hash": (4, 8, 4, 0), "Array": (4, 8, 4, 0), "ProgramArray": (4, 4, 4, 0),
    "PerfEventArray": (4, 4, 4, 0), "PerCPUHash": (4, 8, 4, 0), "PerCPUArray": (4, 8, 4, 0),
    "StackTrace": (4, 8 * 127, 4, 0), "CGroupArray": (4, 4, 4, 0), "LRUHash": (4, 8, 4, 0),
    "LRUCPUHash": (4, 8, 4, 0), "LPMTrie": (8, 8, 4, 1), "ArrayOfMaps": (4, 4, 4, 0),
    "HashOfMaps": (4, 4, 4, 0), "DevMap": (4, 4, 4, 0), "SockMap": (4, 8, 4, 0),
    "CPUMap": (4, 4, 4, 0), "XSKMap": (4, 4, 4, 0), "SockHash": (4, 8, 4, 0),
    "CGroupStorage": (16, 8, 0, 0), "ReusePortSockArray": (4, 8, 4, 0),
    "PerCPUCGroupStorage": (16, 8, 0, 0), "Queue": (0, 8, 4, 0), "Stack": (0, 8, 4, 0),
    "SkStorage": None, "DevMapHash": (4, 4, 4, 0), "StructOpsMap": None,
    "RingBuf": (0, 0, 4096, 0), "InodeStorage": None, "TaskStorage": None,
    "BloomFilter": (0, 8, 4, 0), "UserRingbuf": (0, 0, 4096, 0), "CgroupStorage": None,
    "Arena": (0, 0, 1, 1 << 10),
}  # fmt: skip
MAP_SINCE = {
    "Hash": "3.19", "Array": "3.19", "ProgramArray": "4.2", "PerfEventArray": "4.3",
    "PerCPUHash": "4.6", "PerCPUArray": "4.6", "StackTrace": "4.6", "CGroupArray": "4.8",
    "LRUHash": "4.10", "LRUCPUHash": "4.10", "LPMTrie": "4.11", "ArrayOfMaps": "4.12",
    "HashOfMaps": "4.12", "DevMap": "4.14", "SockMap": "4.14", "CPUMap": "4.15",
    "XSKMap": "4.18", "SockHash": "4.18", "CGroupStorage": "4.19", "ReusePortSockArray": "4.19",
    "PerCPUCGroupStorage": "4.20", "Queue": "4.20", "Stack": "4.20", "SkStorage": "5.2",
    "DevMapHash": "5.4", "StructOpsMap": "5.6", "RingBuf": "5.8", "InodeStorage": "5.10",
    "TaskStorage": "5.11", "BloomFilter": "5.16", "UserRingbuf": "6.1", "CgroupStorage": "6.2",
    "Arena": "6.9",
}  # fmt: skip
# The kernel's enum bpf_map_type spelling of the types created above from BTF only.
_MAP_ENUM = {
    "SkStorage": "BPF_MAP_TYPE_SK_STORAGE", "StructOpsMap": "BPF_MAP_TYPE_STRUCT_OPS",
    "InodeStorage": "BPF_MAP_TYPE_INODE_STORAGE", "TaskStorage": "BPF_MAP_TYPE_TASK_STORAGE",
    "CgroupStorage": "BPF_MAP_TYPE_CGRP_STORAGE",
}  # fmt: skip


def probe_map_type(probe: Probe, name: str) -> Row:
    """Create one map of the type (as bpftool does) and close it; for the types that need
    BTF to be created, look for the type in the kernel's enum bpf_map_type instead."""
    type_id = MAP_TYPES.index(name)
    reading = "its entries can be read" if _listable(type_id) else "listed, entries not readable"
    spec = MAP_SPECS[name]
    if spec is None:
        known = probe.enum_names("bpf_map_type")
        if known is None:
            return WORKS, f"not created (needs BTF to create); {reading}"
        if _MAP_ENUM[name] in known:
            return WORKS, f"known to the kernel; {reading}"
        return UNAVAILABLE, f"this kernel has no {name} maps (from {MAP_SINCE[name]})"
    key_size, value_size, max_entries, flags = spec
    inner = create_map(_ARRAY, 4, 4, 1, name=PROBE_NAME) if "OfMaps" in name else None
    try:
        create_map(type_id, key_size, value_size, max_entries, name=PROBE_NAME, flags=flags,
                   inner_map_fd=inner.fd if inner else 0).close()  # fmt: skip
    except BPFError as exc:
        if exc.errno == errno.EINVAL:
            return UNAVAILABLE, f"this kernel has no {name} maps (from {MAP_SINCE[name]})"
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        why = "this process is privileged: a security policy or this kernel's build"
        if exc.errno not in (errno.EPERM, errno.EACCES):
            why = os.strerror(exc.errno or 0)
        return UNAVAILABLE, f"the kernel refuses to create {name} maps ({code}: {why})"
    finally:
        if inner is not None:
            inner.close()
    return WORKS, f"created; {reading}"


def _listable(type_id: int) -> bool:
    from .info import MapInfo

    probe_info = MapInfo(0, type_id, "", 4, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return listing_refusal(probe_info) is None


def probe_program_types(probe: Probe) -> Row:
    known = probe.enum_names("bpf_prog_type")
    if known is None:
        return DEGRADED, f"{probe.btf_problem}: which program types exist is unknown"
    count = sum(1 for name in known if name.startswith("BPF_PROG_TYPE_")) - 1  # UNSPEC
    agent = len(PROG_TYPES) - 1
    if count > agent:
        return WORKS, f"{count} program types; {count - agent} newer ones show as ProgramType(N)"
    return WORKS, f"{count} of the {agent} program types the agent names"


# ---------------------------------------------------------------- the table

# name, title, since, probe
CATALOG: tuple[tuple[str, str, str | None, Callable[[Probe], Row]], ...] = (
    ("bpf_syscall", "bpf() object listing", "4.13", probe_bpf_syscall),
    ("links", "link listing (LINK_GET_NEXT_ID)", "5.8", probe_links),
    ("run_stats", "run counts and times", "5.1", probe_run_stats),
    ("enable_stats", "BPF_ENABLE_STATS", "5.8", probe_enable_stats),
    ("prog_info_fields", "newer bpf_prog_info fields", "5.19", _optional_info_fields),
    ("batch_lookup", "batched map reads (BPF_MAP_LOOKUP_BATCH)", "5.6", probe_batch_lookup),
    ("program_iterator", "program iterator (iter/bpf_prog)", "5.19", probe_program_iterator),
    ("map_iterator", "map iterator (iter/bpf_map + bpf_map_sum_elem_count)", "6.6",
     probe_map_iterator),
    ("vmlinux_btf", "kernel BTF (/sys/kernel/btf/vmlinux)", "5.4", probe_vmlinux_btf),
    ("object_btf", "BTF of programs and maps", "5.4", probe_object_btf),
    ("link_details", "link attach details (bpf_link_info)", "5.8", probe_link_details),
    ("test_run", "test runs (BPF_PROG_TEST_RUN)", "4.12", probe_test_run),
    ("task_fd_query", "perf-event attachments (BPF_TASK_FD_QUERY)", "4.17", probe_task_fd_query),
    ("jit", "JIT-compiled code", "3.18", probe_jit),
    ("kallsyms", "kernel symbols (/proc/kallsyms)", None, probe_kallsyms),
    ("kprobes", "kprobes", None, probe_kprobes),
    ("program_types", "program types", None, probe_program_types),
)  # fmt: skip


def probe_features(
    bpf_dir: str = "/sys/fs/bpf",
    iterator_problems: dict[str, str | None] | None = None,
) -> list[Feature]:
    """Every row of the table, probed now. A long-lived process that already loaded its
    iterators passes what happened (`{"programs": why-not-or-None, "maps": ...}`) so they
    are not loaded a second time."""
    probe = Probe()
    try:
        return list(_rows(probe, bpf_dir, iterator_problems or {}))
    finally:
        probe.close()


def _rows(probe: Probe, bpf_dir: str, iterators: dict[str, str | None]) -> Iterator[Feature]:
    syscall = probe_bpf_syscall(probe)
    for name, title, since, check in CATALOG:
        if syscall[0] == UNAVAILABLE and name != "bpf_syscall":
            row: Row = UNAVAILABLE, "bpf() is not usable (see bpf_syscall)"
        elif name in ("program_iterator", "map_iterator") and iterators:
            kind = "programs" if name == "program_iterator" else "maps"
            row = _iterator_row(kind, iterators.get(kind))
        else:
            row = _guarded(check, probe)
        yield Feature(name, title, row[0], row[1], since)
    yield Feature("bpffs", "pins (bpffs)", *probe_bpffs(bpf_dir), None)
    for map_name in MAP_TYPES[1:]:
        if syscall[0] == UNAVAILABLE:
            row = UNAVAILABLE, "bpf() is not usable (see bpf_syscall)"
        else:
            row = _guarded(lambda p, n=map_name: probe_map_type(p, n), probe)  # type: ignore[misc]
        yield Feature(f"map_type:{map_name}", f"{map_name} maps", *row, MAP_SINCE[map_name])


def _guarded(check: Callable[[Probe], Row], probe: Probe) -> Row:
    """A probe's row; a probe that could not run (its probe program refused, say) is an
    unavailable row naming why, never an exception out of the table."""
    try:
        return check(probe)
    except (BPFError, OSError) as exc:
        return UNAVAILABLE, f"could not probe: {exc}"
