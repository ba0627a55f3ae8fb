"""A real agent (create_app under uvicorn) that cannot read the kernel while it runs: the
case /readyz exists for (a seccomp profile, or capabilities lost after start), which `phydev
server` itself does not reach, since it refuses to start without them (issue 10). Run as
`python -m tests.e2e.readyz_child PORT`: it empties the process's capability sets with
capset(2) (threads made afterwards, uvicorn's and anyio's, inherit the empty sets), then
serves on 127.0.0.1:PORT until killed."""

from __future__ import annotations

import ctypes
import sys

import uvicorn

from devagent.model.settings import Settings
from devagent.web.app import create_app

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32))  # fmt: skip


def drop_all_capabilities() -> None:
    """Empty this thread's effective, permitted and inheritable capability sets."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()  # version 3 takes two: the low and high 32 capability bits
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def main() -> None:
    app = create_app(Settings())
    drop_all_capabilities()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                lifespan="off")  # fmt: skip


if __name__ == "__main__":
    main()
