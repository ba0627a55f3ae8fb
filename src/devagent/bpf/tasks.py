"""Which processes attached programs through perf events or raw tracepoints (BPF_TASK_FD_QUERY)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from . import _sys
from ._sys import Cmd
from .errors import BPFError
from .names import task_fd_type_name
from .procfs import iter_fds, iter_pids

# fds that BPF_TASK_FD_QUERY can describe: perf events (kprobe, uprobe, tracepoint) and raw
# tracepoint links.
_QUERYABLE = ("anon_inode:[perf_event]", "anon_inode:bpf-link", "anon_inode:bpf_link")


@dataclass(frozen=True)
class Task:
    """A program attachment held by a process: kprobe/uprobe/tracepoint through an fd."""

    pid: int
    fd: int
    prog_id: int
    fd_type: int
    name: str
    probe_offset: int
    probe_addr: int

    @property
    def type_name(self) -> str:
        return task_fd_type_name(self.fd_type)


def decode_task_query(pid: int, fd: int, attr: _sys.TaskFdQueryAttr, buf: bytes) -> Task:
    """Turn a filled BPF_TASK_FD_QUERY attr into a Task."""
    return Task(
        pid=pid,
        fd=fd,
        prog_id=attr.prog_id,
        fd_type=attr.fd_type,
        name=buf.split(b"\0", 1)[0].decode("utf-8", "replace"),
        probe_offset=attr.probe_offset,
        probe_addr=attr.probe_addr,
    )


def query_task_fd(pid: int, fd: int) -> Task | None:
    """Ask the kernel what program fd `fd` of process `pid` attaches; None if none."""
    buf = ctypes.create_string_buffer(256)
    attr = _sys.TaskFdQueryAttr(pid=pid, fd=fd, buf=_sys.addr(buf), buf_len=len(buf))
    try:
        _sys.bpf(Cmd.TASK_FD_QUERY, attr, what=f"pid {pid} fd {fd}")
    except BPFError:
        return None
    return decode_task_query(pid, fd, attr, buf.raw)


def scan_tasks() -> dict[int, list[Task]]:
    """Program id -> attachments held by processes, found by querying every candidate fd."""
    found: dict[int, list[Task]] = {}
    for pid in iter_pids():
        for fd, target in iter_fds(pid):
            if target in _QUERYABLE:
                task = query_task_fd(pid, fd)
                if task is not None:
                    found.setdefault(task.prog_id, []).append(task)
    return found
