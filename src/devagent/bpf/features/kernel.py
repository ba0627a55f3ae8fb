"""The rows about the kernel's commands, info structs, iterators, BTF and environment: each
probe tries the thing (or asks the kernel's BTF) and says works, degraded or unavailable."""

from __future__ import annotations

import ctypes
import errno
import os

from .. import _sys
from ..errors import BPFError
from ..handles import Fd, iter_btf_ids, iter_link_ids, iter_program_ids
from ..maps import create_map
from .probe import (
    _HASH,
    DEGRADED,
    PROBE_NAME,
    UNAVAILABLE,
    VMLINUX_BTF,
    WORKS,
    Probe,
    Row,
    _field_end,
    _try,
)


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
        return WORKS, (
            "BPF_ENABLE_STATS: `top` and the server (while watched, or always with "
            "--enable-stats) turn statistics on"
        )
    return DEGRADED, (
        "no BPF_ENABLE_STATS: run counts move only with sysctl kernel.bpf_stats_enabled=1 "
        "(`top` and the server cannot turn them on)"
    )


def probe_optional_info_fields(probe: Probe) -> Row:
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
    from ..replay import TestRunAttr

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


# What each of the agent's iterators reads (devagent.bpf.iter.walkers names them by these keys).
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
    from ..iter.frame import IteratorUnavailable
    from ..iter.maps import MapIterator
    from ..iter.programs import ProgramIterator

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
    from ..objects import program_info

    if program_info(probe.program()).jited_size == 0:
        return UNAVAILABLE, "the kernel does not JIT programs (net.core.bpf_jit_enable=0)"
    return WORKS, "programs are JIT-compiled: `inspect progs dump ID jited` (with capstone)"


def probe_kallsyms(_: Probe) -> Row:
    """Addresses of text symbols: per-CPU symbols sit at 0 on many builds (x86-64's
    `fixed_percpu_data` first), so the first code symbol is what tells."""
    try:
        with open("/proc/kallsyms") as f:
            text = next((p for p in map(str.split, f) if p[1:2] in (["T"], ["t"])), None)
    except OSError as exc:
        return DEGRADED, f"/proc/kallsyms cannot be read ({exc.strerror}): calls show ids only"
    if not text or int(text[0], 16) == 0:
        return DEGRADED, "kernel addresses are hidden (kernel.kptr_restrict): calls show ids only"
    return WORKS, "kernel symbols name helper, kfunc and subprogram calls in dumps"


def probe_map_memory(probe: Probe) -> Row:
    """Since 6.4 each map type reports the memory it uses (bpf_map_ops.map_mem_usage), which
    fdinfo's `memlock` shows; before, memlock is an estimate made at creation."""
    ops = probe.member_names("bpf_map_ops")
    if ops is None:
        return DEGRADED, f"{probe.btf_problem}: whether memlock is memory in use is unknown"
    if "map_mem_usage" in ops:
        return WORKS, "memlock is the memory each map uses now (grows with its entries)"
    return DEGRADED, (
        "memlock is the kernel's estimate at creation (for maps that grow, not what they use)"
    )


def probe_kprobes(_: Probe) -> Row:
    if os.path.exists("/sys/bus/event_source/devices/kprobe/type"):
        return WORKS, "kprobe programs can attach here; the agent shows their tasks"
    return UNAVAILABLE, "the kernel has no kprobes (CONFIG_KPROBES): no kprobe programs to show"


def probe_bpffs(bpf_dir: str) -> Row:
    from ..pins import bpffs_problem

    problem = bpffs_problem(bpf_dir)
    if problem is not None:
        return DEGRADED, f"{problem}: pins are not shown"
    return WORKS, f"pins under {bpf_dir}"
