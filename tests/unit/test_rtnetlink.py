"""Netlink attribute decoding (bpf.rtnetlink, bpf.net_attach) on crafted bytes: the cases a
test kernel cannot produce. XDP in two modes at once (XDP_ATTACHED_MULTI) needs a device
with offload and a native driver; the tests with real interfaces are in
tests/kernel/test_attachments.py."""

from __future__ import annotations

import struct

from devagent.bpf.net_attach import (
    IFLA_XDP,
    IFLA_XDP_ATTACHED,
    IFLA_XDP_DRV_PROG_ID,
    IFLA_XDP_HW_PROG_ID,
    IFLA_XDP_PROG_ID,
    XDP_ATTACHED_MULTI,
    XDP_ATTACHED_SKB,
    _xdp_programs,
)
from devagent.bpf.rtnetlink import attr_str, attr_u32, pack_attr, parse_attrs


def u32(value: int) -> bytes:
    return struct.pack("=I", value)


def test_attributes_are_aligned_to_four_bytes_and_flags_masked() -> None:
    nested_flag = 0x8000  # NLA_F_NESTED
    raw = pack_attr(3, b"veth0\0") + pack_attr(IFLA_XDP | nested_flag, pack_attr(1, u32(7)))
    attrs = parse_attrs(raw)
    assert attr_str(attrs, 3) == "veth0"
    assert attr_u32(parse_attrs(attrs[IFLA_XDP]), 1) == 7
    assert len(pack_attr(3, b"veth0\0")) == 12  # 4 + 6, padded to 12


def test_a_truncated_attribute_ends_the_list() -> None:
    raw = pack_attr(1, u32(1)) + struct.pack("=HH", 200, 2) + b"\0" * 4
    assert parse_attrs(raw) == {1: u32(1)}


def test_xdp_in_one_mode_and_in_several() -> None:
    one = {IFLA_XDP: pack_attr(IFLA_XDP_ATTACHED, bytes([XDP_ATTACHED_SKB]))
           + pack_attr(IFLA_XDP_PROG_ID, u32(42))}  # fmt: skip
    assert _xdp_programs(one) == ((42, "generic"),)
    multi = {IFLA_XDP: pack_attr(IFLA_XDP_ATTACHED, bytes([XDP_ATTACHED_MULTI]))
             + pack_attr(IFLA_XDP_DRV_PROG_ID, u32(5)) + pack_attr(IFLA_XDP_HW_PROG_ID, u32(6))
             + pack_attr(IFLA_XDP_PROG_ID, u32(0))}  # fmt: skip
    assert _xdp_programs(multi) == ((5, "driver"), (6, "offload"))
    assert _xdp_programs({}) == ()
    none = {IFLA_XDP: pack_attr(IFLA_XDP_ATTACHED, b"\0")}
    assert _xdp_programs(none) == ()
