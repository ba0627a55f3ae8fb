"""Kernel objects the benchmarks measure against, created fast (batch updates) and owned by
this process: closing the returned fds (or exiting) frees them."""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS, PROG_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.bpf.pins import open_pinned
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


BIG_PROGRAM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __noinline __u64 fold(__u64 a, __u64 b)
{
	return (a << 7) ^ (a >> 3) ^ b;
}

SEC("socket")
int bench_big_program(struct __sk_buff *skb)
{
	__u64 acc = skb->len;

#pragma clang loop unroll(full)
	for (__u32 i = 0; i < ROUNDS; i++) {
		__u32 key = i ^ skb->len;
		__u64 *v = bpf_map_lookup_elem(&counts, &key);

		if (v) {
			acc += *v;
			__sync_fetch_and_add(v, 1);
		}
		acc = fold(acc, bpf_ktime_get_ns());
	}
	return acc & 1;
}

char _license[] SEC("license") = "GPL";
"""


def big_program(rounds: int = 300) -> Fd:
    """A socket filter of several thousand instructions (an unrolled loop of map lookups,
    atomics, helper and subprogram calls), built with clang -g so it has BTF func and line
    info, and loaded with bpftool through a private bpffs pin that is gone on return. The
    program lives as long as the returned fd."""
    with tempfile.TemporaryDirectory(prefix="bench-big-") as tmp:
        work = Path(tmp)
        src, obj, fs = work / "big.bpf.c", work / "big.bpf.o", work / "bpffs"
        src.write_text(BIG_PROGRAM.replace("ROUNDS", str(rounds)))
        arch_inc = f"/usr/include/{os.uname().machine}-linux-gnu"
        subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", f"-I{arch_inc}",
                        "-c", str(src), "-o", str(obj)], check=True)  # fmt: skip
        fs.mkdir()
        subprocess.run(["mount", "-t", "bpf", "bpf", str(fs)], check=True)
        try:
            subprocess.run(["bpftool", "prog", "load", str(obj), str(fs / "big")], check=True)
            return open_pinned(str(fs / "big"))
        finally:
            subprocess.run(["umount", str(fs)], check=True)
