"""Property tests of the BTF reader and renderer on damaged blobs: whatever the bytes, parsing,
walking the types and rendering values either work or raise BTFError, never anything else
(a map's BTF comes from whoever loaded the map)."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import given
from hypothesis import strategies as st

from devagent.bpf.btf import parse_btf
from devagent.bpf.btf.types import BTFError
from devagent.model.btf_render import render
from tests.kernel.test_btf import encode_odd_types, minimal_btf

BLOBS = [encode_odd_types().blob, minimal_btf()]
HEADER = 24


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real blob with a few 32-bit words (or bytes) overwritten, or cut short."""
    blob = bytearray(draw(st.sampled_from(BLOBS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(blob) - 4))
        if draw(st.booleans()):
            word = draw(st.sampled_from([0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 31])
                        | st.integers(0, 0xFFFFFFFF))  # fmt: skip
            struct.pack_into("<I", blob, at - at % 4, word)
        else:
            blob[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        blob = blob[: draw(st.integers(0, len(blob)))]
    return bytes(blob)


def walk(blob: bytes, data: bytes) -> None:
    btf = parse_btf(blob)
    for type_id in range(len(btf) + 1):
        for step in (btf.type, btf.size_of, btf.resolve, btf.name_of):
            with contextlib.suppress(BTFError):
                step(type_id)
        try:
            size = btf.size_of(type_id)
            if size <= 4096:  # a damaged array may claim gigabytes
                render(btf, type_id, (data * (size // len(data) + 1))[:size])
        except BTFError:
            pass


@given(damaged(), st.binary(min_size=1, max_size=32))
def test_damaged_btf_raises_only_btf_errors(blob: bytes, data: bytes) -> None:
    with contextlib.suppress(BTFError):
        walk(blob, data)


@given(st.binary(max_size=200))
def test_random_bytes_are_refused_with_btf_error(blob: bytes) -> None:
    with contextlib.suppress(BTFError):
        walk(blob, b"\x01")
