"""The kernel's BTF objects as raw blobs: what the BTF parser (parse.py) reads.

Separate from objects.py so that the parser can load BTF while objects.py (through links.py)
uses the parser, without an import cycle.
"""

from __future__ import annotations

import ctypes
import errno

from .. import _sys
from ..errors import BPFError
from ..handles import Fd, by_id, c_string, get_info_by_fd, iter_btf_ids, list_each, open_btf
from ..info import BtfObjectInfo, ObjectError


def btf_info(fd: int | Fd, btf_id: int = 0) -> BtfObjectInfo:
    """Read struct bpf_btf_info (name and size) for a BTF fd. Before Linux 5.11 the struct
    ends before `name` and the kernel refuses (E2BIG) a longer one whose tail is not zero:
    there the name is empty and kernel_btf unknown (5.10 has no module BTF to tell apart)."""
    name = ctypes.create_string_buffer(256)
    info = _sys.BtfInfo(name=_sys.addr(name), name_len=len(name))
    what = f"btf {btf_id}" if btf_id else "btf"
    try:
        get_info_by_fd(int(fd), info, what)
    except BPFError as exc:
        if exc.errno != errno.E2BIG:
            raise
        old = _sys.BtfInfo()
        get_info_by_fd(int(fd), old, what, size=_sys.BtfInfo.name.offset)
        return BtfObjectInfo(id=old.id, name="", size=old.btf_size, kernel_btf=None)
    return BtfObjectInfo(
        id=info.id, name=c_string(name.raw), size=info.btf_size, kernel_btf=bool(info.kernel_btf)
    )


def read_btf_data(btf_id: int) -> bytes:
    """The raw BTF blob (header, types, strings) of BTF object `btf_id`."""
    with open_btf(btf_id) as fd:
        info = _sys.BtfInfo()
        get_info_by_fd(fd.fd, info, f"btf {btf_id}")
        buf = ctypes.create_string_buffer(info.btf_size)
        info2 = _sys.BtfInfo(btf=_sys.addr(buf), btf_size=info.btf_size)
        get_info_by_fd(fd.fd, info2, f"btf {btf_id}")
        return buf.raw[: info2.btf_size]


def list_btf() -> list[BtfObjectInfo | ObjectError]:
    """Every BTF object, or an ObjectError for one that could not be read."""
    return list_each(iter_btf_ids(), lambda i: by_id(open_btf, btf_info, i), "btf")
