"""devagent.model.codec: the contract's entry formats, both ways, one value and in bulk."""

from __future__ import annotations

import random

import orjson
import pytest

from devagent.model.codec import (
    CodecError,
    Format,
    bulk_format,
    dump_json,
    format_bytes,
    parse_text,
    sort_order,
    value_as_u64,
)

HEX, STRING, NUMBER = Format.HEX, Format.STRING, Format.NUMBER


def test_format_names_any_case() -> None:
    assert Format.parse("hex") is HEX and Format.parse(" String ") is STRING
    assert Format.parse("NUMBER") is NUMBER
    with pytest.raises(CodecError, match="unknown format 'btfx': use one of hex, string, number"):
        Format.parse("btfx")


@pytest.mark.parametrize(
    ("data", "fmt", "text"),
    [
        (b"\x01\xab\x00", HEX, "01ab00"),
        (b"", HEX, ""),
        (b"ipv4\0\0\0\0", STRING, "ipv4"),
        (b"a\0b\0", STRING, "a\0b"),
        (b"\xff\xfeok\0", STRING, "\\xff\\xfeok"),
        (b"A\\xff", STRING, "A\\\\xff"),
        (b"C:\\tmp\xff", STRING, "C:\\\\tmp\\xff"),
        ("żółw".encode() + b"\0", STRING, "żółw"),
        (b"\x2a", NUMBER, "42"),
        (b"\x01\x01", NUMBER, "257"),
        (b"\xff\xff\xff\xff", NUMBER, "4294967295"),
        (b"\x01\x00\x00", NUMBER, "1"),
        (b"\xff" * 8, NUMBER, str(2**64 - 1)),
        (b"\x01" * 9, NUMBER, "01" * 9),
    ],
)
def test_format_bytes(data: bytes, fmt: Format, text: str) -> None:
    assert format_bytes(data, fmt) == text
    text.encode("utf-8")  # always valid UTF-8


@pytest.mark.parametrize(
    ("text", "fmt", "size", "data"),
    [
        ("01ab", HEX, 4, b"\x01\xab\0\0"),
        ("01AB", HEX, 2, b"\x01\xab"),
        ("0x01", HEX, 2, b"\x01\0"),
        ("", HEX, 2, b"\0\0"),
        ("ipv4", STRING, 8, b"ipv4\0\0\0\0"),
        ("żó", STRING, 4, "żó".encode()),
        ("A\\xff", STRING, 2, b"A\xff"),
        ("A\\xFF\\\\", STRING, 4, b"A\xff\\\0"),
        ("\\x00a", STRING, 2, b"\0a"),
        ("+7", NUMBER, 1, b"\x07"),
        ("", NUMBER, 4, b"\0\0\0\0"),
        (" 257 ", NUMBER, 2, b"\x01\x01"),
        ("-1", NUMBER, 4, b"\xff\xff\xff\xff"),
        ("-128", NUMBER, 1, b"\x80"),
        ("255", NUMBER, 1, b"\xff"),
        (str(2**64 - 1), NUMBER, 8, b"\xff" * 8),
    ],
)
def test_parse_text(text: str, fmt: Format, size: int, data: bytes) -> None:
    assert parse_text(text, fmt, size) == data


@pytest.mark.parametrize(
    ("text", "fmt", "size", "message"),
    [
        ("abc", HEX, 4, "odd number of digits"),
        ("0102030405", HEX, 4, "is 5 bytes, the field holds 4 (at most 8 digits)"),
        ("zz", HEX, 4, "not a hex digit"),
        ("0x", HEX, 4, "'0x' has no digits after 0x"),
        ("01 02", HEX, 4, "not a hex digit"),
        ("٠١", HEX, 4, "not a hex digit"),
        ("1_0", NUMBER, 4, "'1_0' is not a decimal integer (ASCII digits 0-9)"),
        ("١٢", NUMBER, 4, "is not a decimal integer"),
        ("C:\\tmp", STRING, 8, "has a backslash that is not an escape"),
        ("\\x4", STRING, 8, "has a backslash that is not an escape"),
        ("abcde", STRING, 4, "'abcde' is 5 bytes, the field holds 4"),
        ("ż" * 3, STRING, 5, "is 6 bytes, the field holds 5"),
        ("1", NUMBER, 3, "NUMBER needs a 1, 2, 4 or 8-byte field, this one is 3 bytes"),
        ("1", NUMBER, 16, "this one is 16 bytes"),
        ("256", NUMBER, 1, "NUMBER 256 does not fit in 1 byte"),
        ("-129", NUMBER, 1, "does not fit in 1 byte"),
        (str(2**32), NUMBER, 4, f"NUMBER {2**32} does not fit in 4 bytes"),
        ("12x", NUMBER, 4, "'12x' is not a decimal integer"),
        ("1.5", NUMBER, 8, "not a decimal integer"),
    ],
)
def test_parse_errors_name_the_problem(text: str, fmt: Format, size: int, message: str) -> None:
    with pytest.raises(CodecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_text(text, fmt, size)


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_round_trips(size: int) -> None:
    rng = random.Random(size)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(size))
        for fmt in (HEX, NUMBER):
            assert parse_text(format_bytes(data, fmt), fmt, size) == data
        text = "".join(rng.choice("abcżó1 ") for _ in range(size // 2))
        assert format_bytes(parse_text(text, STRING, 2 * size), STRING) == text.rstrip("\0")


def test_value_as_u64() -> None:
    assert value_as_u64(b"\x01") == 1
    assert value_as_u64(b"\x01\x02") == 0x0201
    assert value_as_u64(b"\xff" * 8 + b"\x07") == 2**64 - 1
    assert value_as_u64(b"") == 0


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 20])
@pytest.mark.parametrize("fmt", list(Format))
def test_bulk_equals_one_by_one(size: int, fmt: Format) -> None:
    rng = random.Random(size * 31 + len(fmt.value))
    count, stride, offset = 50, size + 5, 3
    buf = bytes(rng.randrange(256) for _ in range(offset + count * stride))
    expected = [
        format_bytes(buf[offset + i * stride : offset + i * stride + size], fmt)
        for i in range(count)
    ]
    assert bulk_format(buf, count, size, fmt, stride, offset) == expected
    packed = b"".join(buf[offset + i * stride : offset + i * stride + size] for i in range(count))
    assert bulk_format(packed, count, size, fmt) == expected
    assert bulk_format(b"", 0, size, fmt) == []


@pytest.mark.parametrize("size", [1, 2, 4, 6, 8, 12])
def test_sort_order(size: int) -> None:
    rng = random.Random(size)
    keys = [bytes(rng.randrange(256) for _ in range(size)) for _ in range(300)]
    buf = b"".join(keys)
    hex_order = sort_order(buf, len(keys), size, HEX).tolist()
    assert [keys[i].hex() for i in hex_order] == sorted(k.hex() for k in keys)
    num_order = sort_order(buf, len(keys), size, NUMBER).tolist()
    if size <= 8:
        assert [int.from_bytes(keys[i], "little") for i in num_order] == sorted(
            int.from_bytes(k, "little") for k in keys
        )
    else:
        assert num_order == hex_order  # NUMBER falls back to HEX past 8 bytes
    str_order = sort_order(buf, len(keys), size, STRING).tolist()
    texts = [format_bytes(k, STRING) for k in keys]
    assert [texts[i] for i in str_order] == sorted(texts)


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize(("key_size", "value_size"), [(8, 8), (4, 12), (16, 3)])
def test_dump_json_plain(fmt: Format, key_size: int, value_size: int) -> None:
    rng = random.Random(key_size * value_size)
    count = 40
    keys = bytes(rng.randrange(256) for _ in range(count * key_size))
    values = bytes(rng.randrange(256) for _ in range(count * value_size))
    doc = orjson.loads(dump_json(keys, values, count, key_size, value_size, fmt))
    assert doc == [
        {
            "key": format_bytes(keys[i * key_size : (i + 1) * key_size], fmt),
            "value": format_bytes(values[i * value_size : (i + 1) * value_size], fmt),
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("fmt", list(Format))
def test_dump_json_per_cpu(fmt: Format) -> None:
    rng = random.Random(7)
    count, key_size, value_size, ncpus, slot = 30, 4, 4, 3, 8
    keys = bytes(rng.randrange(256) for _ in range(count * key_size))
    values = bytes(rng.randrange(256) for _ in range(count * slot * ncpus))
    doc = orjson.loads(
        dump_json(keys, values, count, key_size, value_size, fmt, per_cpu=True, ncpus=ncpus,
                  slot_size=slot)
    )  # fmt: skip
    for i, entry in enumerate(doc):
        assert entry["key"] == format_bytes(keys[i * key_size : (i + 1) * key_size], fmt)
        base = i * slot * ncpus
        assert entry["values"] == [
            {"cpu": c, "value": format_bytes(values[base + c * slot : base + c * slot + 4], fmt)}
            for c in range(ncpus)
        ]
    assert dump_json(b"", b"", 0, 4, 4, fmt) == b"[]"
