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
