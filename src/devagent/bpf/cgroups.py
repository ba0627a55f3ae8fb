"""Cgroup ids (what cgroup links report) resolved to paths in the cgroup v2 hierarchy.

A cgroup's id is the inode number of its directory in cgroupfs, so a walk of the cgroup2 mount
finds it; bpftool's `cgroup tree` relies on the same fact.
"""

from __future__ import annotations

import os


def cgroup2_mount() -> str | None:
    """Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `.../unified` on hybrid systems)."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return None


def cgroup_paths(wanted: set[int], root: str | None = None) -> dict[int, str]:
    """Map the cgroup ids in `wanted` to their paths, walking the hierarchy only as far as
    needed (it stops once every id is found). Ids not found are absent from the result."""
    root = root or cgroup2_mount()
    found: dict[int, str] = {}
    if not root or not wanted:
        return found
    todo = [root]
    while todo and len(found) < len(wanted):
        path = todo.pop()
        try:
            st = os.stat(path)
            entries = list(os.scandir(path))
        except OSError:
            continue
        if st.st_ino in wanted:
            found[st.st_ino] = path
        todo.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
    return found


def process_cgroup(pid: int) -> str | None:
    """The cgroup a process runs in, as /proc/PID/cgroup names it (relative to the hierarchy's
    root, e.g. `/system.slice/docker-<id>.scope`); None if the process is gone.

    The cgroup v2 line (`0::`) is preferred. On hybrid and v1-only systems a container runtime
    may have placed the process only in v1 hierarchies, so where the v2 path is the root, the
    systemd (`name=systemd`) path or the first other non-root v1 path is taken instead.
    """
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    unified: str | None = None
    named: str | None = None
    other: str | None = None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            unified = path
        elif controllers == "name=systemd":
            named = path
        elif other is None and path not in ("", "/"):
            other = path
    for found in (unified, named, other):
        if found and found != "/":
            return found
    return unified or named or "/"
