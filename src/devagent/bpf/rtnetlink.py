"""A minimal rtnetlink client (AF_NETLINK, NETLINK_ROUTE) with the stdlib `socket` and
`struct`: dump requests and their attributes, nothing else.

Programs attached the classic way, without a bpf link (XDP through `ip link set ... xdp`, tc
filters through `tc filter add ... bpf`), are listed by the kernel only in rtnetlink answers:
this is where `bpftool net` finds them. A dependency (pyroute2) would be far larger than the
two dumps needed (bpf.net_attach).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED / NLA_F_NET_BYTEORDER
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: len, type, flags, seq, pid
_ATTR = struct.Struct("=HH")  # struct nlattr: len, type
_RECV_SIZE = 1 << 16


class NetlinkError(OSError):
    """The kernel answered a request with an error (its errno) or the socket failed."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def parse_attrs(
    buf: bytes | memoryview, offset: int = 0, end: int | None = None
) -> dict[int, bytes]:
    """The netlink attributes in buf[offset:end], by type (flags masked off); a repeated type
    keeps its last value."""
    end = len(buf) if end is None else end
    out: dict[int, bytes] = {}
    while offset + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(buf, offset)
        if length < _ATTR.size or offset + length > end:
            break
        out[kind & NLA_TYPE_MASK] = bytes(buf[offset + _ATTR.size : offset + length])
        offset += _align(length)
    return out


def attr_u32(attrs: dict[int, bytes], kind: int) -> int | None:
    """A u32 attribute (native byte order), None when absent or short."""
    raw = attrs.get(kind)
    return struct.unpack_from("=I", raw)[0] if raw is not None and len(raw) >= 4 else None


def attr_str(attrs: dict[int, bytes], kind: int) -> str | None:
    """A NUL-terminated string attribute, None when absent."""
    raw = attrs.get(kind)
    return None if raw is None else raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def pack_attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    length = _ATTR.size + len(payload)
    return _ATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


class RouteSocket:
    """One NETLINK_ROUTE socket for a series of dump requests (one round trip each)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   socket.NETLINK_ROUTE)  # fmt: skip
        self._sock.bind((0, 0))
        self._seq = 0

    def __enter__(self) -> RouteSocket:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def dump(self, msg_type: int, header: bytes, attrs: bytes = b"") -> Iterator[tuple[int, bytes]]:
        """Send a dump request of `msg_type` with its fixed header (ifinfomsg, tcmsg, ...) and
        yield (message type, body) of every answer until NLMSG_DONE. An error answer raises
        NetlinkError with the kernel's errno."""
        self._seq += 1
        seq = self._seq
        body = header + attrs
        request = _HEADER.pack(_HEADER.size + len(body), msg_type,
                               NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body  # fmt: skip
        self._sock.send(request)
        while True:
            data = self._sock.recv(_RECV_SIZE)
            if not data:
                raise NetlinkError(errno.EIO, "netlink socket closed")
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _flags, got_seq, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    raise NetlinkError(errno.EIO, "malformed netlink message")
                payload = data[offset + _HEADER.size : offset + length]
                offset += _align(length)
                if got_seq != seq:
                    continue  # an answer to an earlier request we stopped reading
                if kind == NLMSG_DONE:
                    # A dump that failed part way says so here (a negative errno)
                    code = -struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else 0
                    if code > 0:
                        raise NetlinkError(code, os.strerror(code))
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code == 0:
                        return
                    raise NetlinkError(code, os.strerror(code))
                yield kind, payload
