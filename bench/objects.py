"""Kernel objects the benchmarks measure against, created fast (batch updates) and owned by
this process: closing the returned fds (or exiting) frees them."""

from __future__ import annotations

import resource

import numpy as np

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.bpf.progs import load_program, return_imm


def raise_fd_limit() -> None:
    """A thousand programs and maps need more fds than the usual soft limit of 1024."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def filled_hash(entries: int, *, per_cpu: bool = False, name: str = "bench_hash") -> Fd:
    """A hash (or per-CPU hash) map with `entries` 8-byte keys and 8-byte values."""
    map_type = MAP_TYPE_IDS["PerCPUHash" if per_cpu else "Hash"]
    fd = create_map(map_type, 8, 8, entries, name=name)
    handle = MapHandle(fd, map_info(fd))
    ncpus = possible_cpus() if per_cpu else 1
    chunk = 100_000
    for start in range(0, entries, chunk):
        n = min(chunk, entries - start)
        keys = np.arange(start, start + n, dtype="<u8") * np.uint64(2654435761)
        values = np.repeat(np.arange(start, start + n, dtype="<u8"), ncpus)
        handle.update_batch(keys.tobytes(), values.tobytes())
    return fd


def many_programs(count: int) -> list[Fd]:
    """`count` socket filters, each using its own small hash map (2 * count objects)."""
    fds: list[Fd] = []
    for i in range(count):
        m = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 16, name=f"bench_m{i}")
        p = load_program(PROG_TYPE_IDS["SocketFilter"], return_imm(0, (m.fd,)), name=f"bench_p{i}")
        fds += [m, p]
    return fds
