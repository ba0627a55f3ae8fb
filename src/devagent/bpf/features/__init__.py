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

from collections.abc import Callable, Iterator

from ..errors import BPFError
from ..names import MAP_TYPES
from .kernel import (
    _iterator_row,
    probe_batch_lookup,
    probe_bpf_syscall,
    probe_bpffs,
    probe_enable_stats,
    probe_jit,
    probe_kallsyms,
    probe_kprobes,
    probe_link_details,
    probe_links,
    probe_map_iterator,
    probe_map_memory,
    probe_object_btf,
    probe_optional_info_fields,
    probe_program_iterator,
    probe_run_stats,
    probe_task_fd_query,
    probe_test_run,
    probe_vmlinux_btf,
)
from .probe import DEGRADED, STATUSES, UNAVAILABLE, WORKS, Feature, Probe, Row
from .types import MAP_SINCE, MAP_SPECS, probe_map_type, probe_program_types

__all__ = [
    "DEGRADED", "MAP_SPECS", "ROW_COUNT", "STATUSES", "UNAVAILABLE", "WORKS", "Feature",
    "Probe", "probe_features", "probe_map_type",
]  # fmt: skip

# ---------------------------------------------------------------- the table

# name, title, since, probe
CATALOG: tuple[tuple[str, str, str | None, Callable[[Probe], Row]], ...] = (
    ("bpf_syscall", "bpf() object listing", "4.13", probe_bpf_syscall),
    ("links", "link listing (LINK_GET_NEXT_ID)", "5.8", probe_links),
    ("run_stats", "run counts and times", "5.1", probe_run_stats),
    ("enable_stats", "BPF_ENABLE_STATS", "5.8", probe_enable_stats),
    ("prog_info_fields", "newer bpf_prog_info fields", "5.19", probe_optional_info_fields),
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
    ("map_memory", "map memory in use (memlock)", "6.4", probe_map_memory),
    ("kprobes", "kprobes", None, probe_kprobes),
    ("program_types", "program types", None, probe_program_types),
)  # fmt: skip


# Rows of a table: the catalog's, bpffs, and one per map type but Unspecified.
ROW_COUNT = len(CATALOG) + len(MAP_TYPES)


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
