"""Bytes <-> text for map keys and values: the one place where HEX, STRING and NUMBER live.

The GraphQL API, the Prometheus exporter and the CLI all call these functions, so the three can
never disagree about how an entry looks (CONTRACT.md, "Entry formats").

- HEX: lowercase hex digits, no prefix. Parsing: an even number of ASCII hex digits, at most
  2 x size; a shorter input fills the leading bytes and the rest are zero. A `0x` prefix is
  accepted, but not alone (it would silently mean all zero bytes).
- STRING: the bytes with trailing NULs dropped, as UTF-8. Bytes that are not valid UTF-8 become
  `\\xNN` escapes (Python's "backslashreplace"), so the text is always valid UTF-8, as
  Prometheus labels and JSON need, and a backslash byte is shown as `\\\\`, so that no two
  byte strings look the same (the bytes 41 ff show as `A\\xff`, the text `A\\xff` itself as
  `A\\\\xff`). Embedded NULs are kept as U+0000. Plain text (valid UTF-8 without a
  backslash) is shown as it is. Parsing reads what formatting writes: UTF-8 text where `\\xNN`
  is the byte NN and `\\\\` a backslash (any other backslash is refused, naming the escapes);
  at most `size` bytes, zero-padded.
- NUMBER: up to 8 bytes, the native-endian unsigned integer in decimal; longer values fall back
  to HEX. Parsing: only 1, 2, 4 or 8-byte fields; ASCII digits with an optional sign (no `_`
  separators, no other scripts' digits); empty text is zero; negative numbers are accepted
  within the signed range (two's complement).

The bulk functions format whole-map reads (one contiguous buffer of fixed-size records) without
a per-entry Python loop where the format allows it: a million entries is the common case they
are built for. They do not need numpy, whose import alone costs more than formatting 100k
entries; only `sort_order` uses it.
"""

from __future__ import annotations

import binascii
import re
import sys
from enum import Enum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BYTEORDER = sys.byteorder
_NUMBER_SIZES = (1, 2, 4, 8)
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_DECIMAL = re.compile(r"[+-]?[0-9]+")


class CodecError(ValueError):
    """Text that cannot become the bytes asked for; the message says why."""


class Format(Enum):
    """How a key or value is shown as text."""

    HEX = "HEX"
    STRING = "STRING"
    NUMBER = "NUMBER"

    @classmethod
    def parse(cls, text: str) -> Format:
        """A format from its name in any case ("hex", "String", ...)."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            allowed = ", ".join(f.value.lower() for f in cls)
            raise CodecError(f"unknown format {text!r}: use one of {allowed}") from None


# ---------------------------------------------------------------- one value


def _string(data: bytes) -> str:
    # A backslash byte (0x5c) is never part of a multi-byte UTF-8 sequence, so doubling it
    # before decoding keeps every other byte's meaning; invalid bytes then come out as \xNN.
    return data.rstrip(b"\0").replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


# What may follow a backslash in STRING input: another backslash, or x and two hex digits.
_STRING_ESCAPE = re.compile(r"\\(?:\\|x([0-9a-fA-F]{2}))?")


def _parse_string(text: str) -> bytes:
    """The bytes a STRING text stands for: the inverse of `_string` (before NUL padding)."""
    if "\\" not in text:
        return text.encode("utf-8")
    out = bytearray()
    pos = 0
    for match in _STRING_ESCAPE.finditer(text):
        out += text[pos : match.start()].encode("utf-8")
        escape = match.group(0)
        if escape == "\\":
            raise CodecError(
                f"STRING {text!r} has a backslash that is not an escape: write \\\\ for a "
                "backslash and \\xNN for the byte NN"
            )
        out += b"\\" if escape == "\\\\" else bytes([int(match.group(1), 16)])
        pos = match.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def format_bytes(data: bytes, fmt: Format) -> str:
    """Show `data` in `fmt` (NUMBER falls back to HEX past 8 bytes)."""
    if fmt is Format.STRING:
        return _string(data)
    if fmt is Format.NUMBER and len(data) <= 8:
        return str(int.from_bytes(data, BYTEORDER)) if data else "0"
    return data.hex()


def parse_text(text: str, fmt: Format, size: int) -> bytes:
    """Exactly `size` bytes from `text` in `fmt`; CodecError names what is wrong."""
    if fmt is Format.HEX:
        return _parse_hex(text, size)
    if fmt is Format.STRING:
        raw = _parse_string(text)
        if len(raw) > size:
            raise CodecError(f"STRING {text!r} is {len(raw)} bytes, the field holds {size}")
        return raw.ljust(size, b"\0")
    return _parse_number(text, size)


def _parse_hex(text: str, size: int) -> bytes:
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
        if not digits:
            raise CodecError(f"HEX {text!r} has no digits after 0x")
    if _HEX_DIGITS.fullmatch(digits) is None:
        raise CodecError(f"HEX {text!r} has a character that is not a hex digit")
    if len(digits) % 2:
        raise CodecError(f"HEX {text!r} has an odd number of digits")
    if len(digits) > 2 * size:
        raise CodecError(
            f"HEX {text!r} is {len(digits) // 2} bytes, the field holds {size} "
            f"(at most {2 * size} digits)"
        )
    return bytes.fromhex(digits).ljust(size, b"\0")


def _parse_number(text: str, size: int) -> bytes:
    if size not in _NUMBER_SIZES:
        raise CodecError(f"NUMBER needs a 1, 2, 4 or 8-byte field, this one is {size} bytes")
    digits = text.strip()
    if not digits:
        return bytes(size)
    # int() alone would take "1_0" and digits of other scripts ("١٢").
    if _DECIMAL.fullmatch(digits) is None:
        raise CodecError(f"NUMBER {text!r} is not a decimal integer (ASCII digits 0-9)")
    value = int(digits, 10)
    bits = 8 * size
    if not -(1 << (bits - 1)) <= value < (1 << bits):
        unit = "byte" if size == 1 else "bytes"
        raise CodecError(f"NUMBER {value} does not fit in {size} {unit}")
    return (value & ((1 << bits) - 1)).to_bytes(size, BYTEORDER)


def value_as_u64(data: bytes) -> int:
    """The first 8 bytes as a native-endian unsigned integer, shorter values zero-padded
    (what the metrics export as a map entry's value)."""
    head = data[:8]
    if BYTEORDER == "little":
        return int.from_bytes(head, "little")
    return int.from_bytes(head.ljust(8, b"\0"), "big")


# ---------------------------------------------------------------- many values

# native-endian memoryview formats of unsigned integers, by size
_UINT_CODES: dict[int, Literal["B", "H", "I", "Q"]] = {1: "B", 2: "H", 4: "I", 8: "Q"}


def pack_records(
    buf: bytes, count: int, size: int, stride: int | None = None, offset: int = 0
) -> bytes:
    """The `count` records of `size` bytes at offset + i * stride, end to end.

    Strided records (one CPU's slots of a per-CPU read) are gathered with one extended-slice
    copy per byte column: `size` C-level copies instead of `count` Python ones.
    """
    stride = size if stride is None else stride
    if count == 0 or size == 0:
        return b""
    if stride == size:
        if offset == 0 and len(buf) == count * size:
            return bytes(buf)
        return bytes(buf[offset : offset + count * size])
    out = bytearray(count * size)
    end = offset + (count - 1) * stride + 1
    for j in range(size):
        out[j::size] = buf[offset + j : end + j : stride]
    return bytes(out)


def bulk_format(
    buf: bytes,
    count: int,
    size: int,
    fmt: Format,
    stride: int | None = None,
    offset: int = 0,
) -> list[str]:
    """format_bytes of each record at offset + i * stride, without a per-record Python loop
    for HEX and NUMBER (bytes.hex with a separator, memoryview casts)."""
    if count == 0:
        return []
    packed = pack_records(buf, count, size, stride, offset)
    if fmt is Format.NUMBER and size <= 8:
        if size == 0:
            return ["0"] * count
        code = _UINT_CODES.get(size)
        if code is not None:
            return list(map(str, memoryview(packed).cast(code).tolist()))
        return [
            str(int.from_bytes(packed[i : i + size], BYTEORDER))
            for i in range(0, count * size, size)
        ]
    if fmt is Format.STRING:
        return [_string(packed[i : i + size]) for i in range(0, count * size, size)]
    if size == 0:
        return [""] * count
    return packed.hex(" ", size).split(" ")


def sort_order(buf: bytes, count: int, size: int, fmt: Format) -> npt.NDArray[np.intp]:
    """The permutation that sorts keys as the API pages them: numerically for NUMBER (up to
    8 bytes), by the formatted text otherwise. For HEX that is the byte order itself.

    numpy is imported here, not at module level: the CLI's dump path never needs it, and
    importing it costs ~50 ms of interpreter start.
    """
    import numpy as np

    if count == 0:
        return np.zeros(0, dtype=np.intp)
    recs = np.frombuffer(pack_records(buf, count, size), dtype=np.uint8).reshape(count, size)
    if fmt is Format.NUMBER and 0 < size <= 8:
        padded = np.zeros((count, 8), dtype=np.uint8)
        if BYTEORDER == "little":
            padded[:, :size] = recs
        else:
            padded[:, 8 - size :] = recs
        return np.argsort(padded.view("=Q")[:, 0], kind="stable")
    if fmt is Format.STRING:
        texts = bulk_format(buf, count, size, fmt)
        return np.array(sorted(range(count), key=texts.__getitem__), dtype=np.intp)
    # Lexicographic byte order: big-endian 8-byte columns, most significant column last.
    width = (size + 7) // 8 * 8
    padded = np.zeros((count, width), dtype=np.uint8)
    padded[:, :size] = recs
    cols = padded.view(">u8")
    return np.lexsort(tuple(cols[:, j] for j in range(cols.shape[1] - 1, -1, -1)))


# ---------------------------------------------------------------- whole-map JSON


def dump_json(
    keys: bytes,
    values: bytes,
    count: int,
    key_size: int,
    value_size: int,
    fmt: Format,
    *,
    per_cpu: bool = False,
    ncpus: int = 1,
    slot_size: int | None = None,
) -> bytes | bytearray:
    """A whole-map read as the JSON array of `phydev inspect maps dump --json`:
    `[{"key": K, "value": V}, ...]`, or for per-CPU maps
    `[{"key": K, "values": [{"cpu": 0, "value": V}, ...]}, ...]`; K and V are strings in `fmt`.

    HEX text has a fixed width per entry, so the document is one template row repeated and
    filled in column by column; NUMBER (digits, nothing to escape) fills a %-template in one
    C-level operation; STRING, which may need JSON escapes, goes through orjson. The result
    may be a bytearray (tens of MB are not copied once more into bytes).
    """
    slot = value_size if slot_size is None else slot_size
    stride = slot * ncpus if per_cpu else value_size
    if count == 0:
        return b"[]"
    cpus = range(ncpus) if per_cpu else range(1)
    if fmt is Format.HEX:
        return _fixed_width_hex(keys, values, count, key_size, value_size, per_cpu, cpus, slot)
    key_txt = bulk_format(keys, count, key_size, fmt)
    val_txt = [bulk_format(values, count, value_size, fmt, stride, c * slot) for c in cpus]
    if fmt is Format.NUMBER:
        return _templated(count, key_txt, val_txt, per_cpu)
    import orjson

    if not per_cpu:
        pairs = zip(key_txt, val_txt[0], strict=True)
        return orjson.dumps([{"key": k, "value": v} for k, v in pairs])
    return orjson.dumps(
        [
            {"key": key_txt[i], "values": [{"cpu": c, "value": val_txt[c][i]} for c in cpus]}
            for i in range(count)
        ]
    )


def _row_parts(per_cpu: bool, ncpus: int) -> list[str]:
    """The literal text of one JSON row around its fields: len(parts) = 2 + ncpus."""
    if not per_cpu:
        return ['{"key":"', '","value":"', '"},']
    cells = ['","values":[{"cpu":0,"value":"']
    cells += [f'"}},{{"cpu":{c},"value":"' for c in range(1, ncpus)]
    return ['{"key":"', *cells, '"}]},']


def _templated(count: int, key_txt: list[str], val_txt: list[list[str]], per_cpu: bool) -> bytes:
    """Rows from a %-template: texts must need no JSON escaping (digits, hex)."""
    parts = _row_parts(per_cpu, len(val_txt))
    row = "%s".join(p.replace("%", "%%") for p in parts)
    width = 1 + len(val_txt)
    fields: list[str] = [""] * (count * width)
    fields[0::width] = key_txt
    for c, column in enumerate(val_txt):
        fields[1 + c :: width] = column
    body = (row * count) % tuple(fields)
    return ("[" + body[:-1] + "]").encode("ascii")


def _fixed_width_hex(
    keys: bytes,
    values: bytes,
    count: int,
    key_size: int,
    value_size: int,
    per_cpu: bool,
    cpus: range,
    slot: int,
) -> bytearray:
    """Every HEX row has the same length: repeat one template row, then copy each hex digit
    column into place with an extended-slice assignment (C loops, no per-entry objects)."""
    parts = [p.encode("ascii") for p in _row_parts(per_cpu, len(cpus))]
    kw, vw = 2 * key_size, 2 * value_size
    stride = slot * len(cpus) if per_cpu else value_size
    key_hex = binascii.hexlify(pack_records(keys, count, key_size))
    value_hex = binascii.hexlify(memoryview(values)[: count * stride])
    # (source, its first digit, digits per source row, digits per field) of each field
    fields = [(key_hex, 0, kw, kw)] + [(value_hex, 2 * c * slot, 2 * stride, vw) for c in cpus]
    # Rows start with their separator: "," + row + "," + row ..., the first "," becomes "[".
    parts[-1] = parts[-1].removesuffix(b",")
    template = b"," + parts[0]
    template += b"".join(b"0" * f[3] + p for f, p in zip(fields, parts[1:], strict=True))
    row_width = len(template)
    out = bytearray(template) * count  # one allocation, no bytes temporaries
    pos = 1
    for literal, (src, first, step, width) in zip(parts, fields, strict=False):
        pos += len(literal)
        for j in range(width):
            out[pos + j :: row_width] = src[first + j :: step]
        pos += width
    out[0:1] = b"["
    out += b"]"
    return out
