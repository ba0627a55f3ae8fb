"""Property tests of devagent.model.codec: every format round-trips, STRING never shows two
different byte strings the same way, and parsing refuses with CodecError, never anything else."""

from __future__ import annotations

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from devagent.model.codec import CodecError, Format, bulk_format, format_bytes, parse_text

FORMATS = st.sampled_from(list(Format))
# Bytes rich in what is hard: backslashes, "x", hex digits, NULs, invalid UTF-8, multi-byte.
TRICKY = st.lists(
    st.sampled_from([b"\\", b"x", b"f", b"F", b"0", b"\0", b"\xff", b"\xc3", b"\xa9", b"A",
                     "ż".encode(), b"\xed\xa0\x80", b"\n"]),
    max_size=12,
).map(b"".join)  # fmt: skip
RAW = st.one_of(st.binary(max_size=24), TRICKY)


@given(RAW)
def test_string_round_trips_to_the_same_bytes(data: bytes) -> None:
    size = max(len(data), 1)
    padded = data.ljust(size, b"\0")
    text = format_bytes(padded, Format.STRING)
    orjson.dumps(text)  # valid UTF-8: a JSON string and a Prometheus label
    assert parse_text(text, Format.STRING, size) == padded


@given(RAW, RAW)
@example(b"A\\xff", b"A\xff")  # both showed as A\xff before backslashes were escaped
def test_different_strings_never_look_the_same(a: bytes, b: bytes) -> None:
    size = max(len(a), len(b), 1)
    a, b = a.ljust(size, b"\0"), b.ljust(size, b"\0")
    if a != b:
        assert format_bytes(a, Format.STRING) != format_bytes(b, Format.STRING)


@given(st.binary(max_size=24), FORMATS)
def test_hex_and_number_round_trip(data: bytes, fmt: Format) -> None:
    size = len(data)
    if fmt is Format.NUMBER and size not in (1, 2, 4, 8):
        return
    if fmt is Format.STRING or (fmt is Format.HEX and size == 0):
        return
    assert parse_text(format_bytes(data, fmt), fmt, size) == data


@given(st.binary(min_size=1, max_size=64), st.integers(1, 8), FORMATS)
def test_bulk_format_equals_one_by_one(buf: bytes, size: int, fmt: Format) -> None:
    count = len(buf) // size
    expected = [format_bytes(buf[i * size : (i + 1) * size], fmt) for i in range(count)]
    assert bulk_format(buf, count, size, fmt) == expected


@given(st.text(max_size=40), FORMATS, st.integers(0, 16))
def test_parsing_any_text_gives_bytes_or_codec_error(text: str, fmt: Format, size: int) -> None:
    try:
        out = parse_text(text, fmt, size)
    except CodecError as exc:
        assert str(exc)
    else:
        assert len(out) == size
