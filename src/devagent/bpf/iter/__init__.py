"""The agent's own BPF iterators: every program's counters and every map's id and entry count
in one read() each, written with a small assembler of its own.

A walk of 1000 programs through bpf() costs ~16 ms of syscalls (GET_NEXT_ID, GET_FD_BY_ID,
OBJ_GET_INFO_BY_FD and close per program); one pass of the `iter/bpf_prog` iterator ~1 ms.
Modules: `asm` (instructions as values, jumps to labels), `frame` (what every iterator shares:
the program around a body, loading, attaching, reading, BTF offsets), `programs` and `maps`
(the two iterators and their checks against bpf() at load), `walkers` (this process's
iterators, loaded once). The plain bpf() walk stays the fallback wherever an iterator cannot
be loaded (no BTF, no CAP_PERFMON, an older kernel, a failed check) or a read fails: the
seam is `walkers`, which answers None and lets callers walk with bpf().

Nothing is imported here, so that a module of the package loads only what it needs.
"""
