"""The eBPF objects the tests build from tests/bpf/*.bpf.c: object name -> (source, clang
flags beyond `-O2 -g -target bpf -I<arch include>`). One list for the tests
(tests/conftest.py `build_bpf`) and for scripts/kernel-matrix, which builds every object on
the host for guests without clang. Standard library only: the matrix imports it by path."""

from __future__ import annotations

BUILDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fixture.bpf.o": ("fixture.bpf.c", ()),
    "btf_types.bpf.o": ("btf_types.bpf.c", ()),
    # -mcpu=v3: atomics with fetch, 32-bit jumps.
    "inspect.bpf.o": ("inspect.bpf.c", ("-mcpu=v3",)),
    # For kernels before 5.17 (no bpf_loop) and 5.12 (no atomics with fetch).
    "inspect-compat.bpf.o": ("inspect.bpf.c", ("-mcpu=v3", "-DDEVAGENT_COMPAT")),
    # A socket filter slow enough (a bpf_loop) to test the bounds of long test runs.
    "slow.bpf.o": ("slow.bpf.c", ()),
    "slow-compat.bpf.o": ("slow.bpf.c", ("-DDEVAGENT_COMPAT",)),
    # Attached without links (netlink XDP and tc, BPF_PROG_ATTACH cgroup): test_attachments.
    "attach.bpf.o": ("attach.bpf.c", ()),
}
