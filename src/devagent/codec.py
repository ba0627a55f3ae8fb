"""Bytes <-> text for map keys and values: the one place where HEX, STRING and NUMBER live.

The GraphQL API, the Prometheus exporter and the CLI all call these functions, so the three can
never disagree about how an entry looks (CONTRACT.md, "Entry formats").

- HEX: lowercase hex digits, no prefix. Parsing: an even number of digits, at most 2 x size; a
  shorter input fills the leading bytes and the rest are zero. A `0x` prefix is accepted.
- STRING: the bytes with trailing NULs dropped, as UTF-8. Bytes that are not valid UTF-8 become
  `\\xNN` escapes (Python's "backslashreplace"), so the text is always valid UTF-8, as
  Prometheus labels and JSON need; embedded NULs are kept as U+0000. Parsing: UTF-8, at most
  `size` bytes, zero-padded.
- NUMBER: up to 8 bytes, the native-endian unsigned integer in decimal; longer values fall back
  to HEX. Parsing: only 1, 2, 4 or 8-byte fields; empty text is zero; negative numbers are
  accepted within the signed range (two's complement).

The bulk functions format whole-map reads (one contiguous buffer of fixed-size records) with
numpy instead of a per-entry loop: a million entries is the common case they are built for.
"""

from __future__ import annotations

import sys
from enum import Enum

import numpy as np
import numpy.typing as npt

BYTEORDER = sys.byteorder
_NUMBER_SIZES = (1, 2, 4, 8)


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
    return data.rstrip(b"\0").decode("utf-8", "backslashreplace")


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
        raw = text.encode("utf-8")
        if len(raw) > size:
            raise CodecError(f"STRING {text!r} is {len(raw)} bytes, the field holds {size}")
        return raw.ljust(size, b"\0")
    return _parse_number(text, size)


def _parse_hex(text: str, size: int) -> bytes:
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if len(digits) % 2:
        raise CodecError(f"HEX {text!r} has an odd number of digits")
    if len(digits) > 2 * size:
        raise CodecError(
            f"HEX {text!r} is {len(digits) // 2} bytes, the field holds {size} "
            f"(at most {2 * size} digits)"
        )
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise CodecError(f"HEX {text!r} has a character that is not a hex digit") from None
    return raw.ljust(size, b"\0")


def _parse_number(text: str, size: int) -> bytes:
    if size not in _NUMBER_SIZES:
        raise CodecError(f"NUMBER needs a 1, 2, 4 or 8-byte field, this one is {size} bytes")
    digits = text.strip()
    if not digits:
        return bytes(size)
    try:
        value = int(digits, 10)
    except ValueError:
        raise CodecError(f"NUMBER {text!r} is not a decimal integer") from None
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


def records(
    buf: bytes, count: int, size: int, stride: int | None = None, offset: int = 0
) -> npt.NDArray[np.uint8]:
    """A (count, size) uint8 view/copy of fixed-size records at offset + i * stride."""
    stride = size if stride is None else stride
    if count == 0 or size == 0:
        return np.zeros((count, size), dtype=np.uint8)
    flat = np.frombuffer(buf, dtype=np.uint8, count=(count - 1) * stride + size, offset=offset)
    return np.lib.stride_tricks.as_strided(flat, shape=(count, size), strides=(stride, 1))


def _as_uint(recs: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Records of up to 8 bytes as native-endian unsigned integers."""
    count, size = recs.shape
    if size in _NUMBER_SIZES:
        return np.ascontiguousarray(recs).view(f"={'BHIQ'[_NUMBER_SIZES.index(size)]}")[:, 0]
    padded = np.zeros((count, 8), dtype=np.uint8)
    if BYTEORDER == "little":
        padded[:, :size] = recs
    else:
        padded[:, 8 - size :] = recs
    return padded.view("=Q")[:, 0]


def _hex_matrix(recs: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(count, 2*size) ASCII hex digits of each record."""
    count, size = recs.shape
    digits = np.ascontiguousarray(recs).tobytes().hex().encode("ascii")  # fastest path in C
    return np.frombuffer(digits, dtype=np.uint8).reshape(count, 2 * size)


def bulk_format(
    buf: bytes,
    count: int,
    size: int,
    fmt: Format,
    stride: int | None = None,
    offset: int = 0,
) -> list[str]:
    """format_bytes of each record at offset + i * stride, vectorised."""
    recs = records(buf, count, size, stride, offset)
    if fmt is Format.NUMBER and size <= 8:
        if size == 0:
            return ["0"] * count
        return list(map(str, _as_uint(recs).tolist()))
    if fmt is Format.STRING:
        flat = np.ascontiguousarray(recs).tobytes()
        return [_string(flat[i : i + size]) for i in range(0, count * size, size)]
    text = np.ascontiguousarray(recs).tobytes().hex()
    width = 2 * size
    return [text[i : i + width] for i in range(0, count * width, width)]


def sort_order(buf: bytes, count: int, size: int, fmt: Format) -> npt.NDArray[np.intp]:
    """The permutation that sorts keys as the API pages them: numerically for NUMBER (up to
    8 bytes), by the formatted text otherwise. For HEX that is the byte order itself."""
    recs = records(buf, count, size)
    if count == 0:
        return np.zeros(0, dtype=np.intp)
    if fmt is Format.NUMBER and 0 < size <= 8:
        return np.argsort(_as_uint(recs), kind="stable")
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
) -> bytes:
    """A whole-map read as the JSON array of `phydev inspect maps dump --json`:
    `[{"key": K, "value": V}, ...]`, or for per-CPU maps
    `[{"key": K, "values": [{"cpu": 0, "value": V}, ...]}, ...]`; K and V are strings in `fmt`.

    HEX output has a fixed width per entry, so the whole document is assembled as one numpy
    byte matrix; other formats are formatted in bulk and serialised by orjson.
    """
    slot = value_size if slot_size is None else slot_size
    stride = slot * ncpus if per_cpu else value_size
    if count == 0:
        return b"[]"
    if fmt is Format.HEX or (fmt is Format.NUMBER and key_size > 8 and value_size > 8):
        return _dump_hex(keys, values, count, key_size, value_size, per_cpu, ncpus, slot, stride)
    import orjson

    key_txt = bulk_format(keys, count, key_size, fmt)
    if not per_cpu:
        val_txt = bulk_format(values, count, value_size, fmt, stride)
        return orjson.dumps([{"key": k, "value": v} for k, v in zip(key_txt, val_txt, strict=True)])
    cpu_txt = [bulk_format(values, count, value_size, fmt, stride, c * slot) for c in range(ncpus)]
    return orjson.dumps(
        [
            {
                "key": key_txt[i],
                "values": [{"cpu": c, "value": cpu_txt[c][i]} for c in range(ncpus)],
            }
            for i in range(count)
        ]
    )


def _dump_hex(
    keys: bytes,
    values: bytes,
    count: int,
    key_size: int,
    value_size: int,
    per_cpu: bool,
    ncpus: int,
    slot: int,
    stride: int,
) -> bytes:
    """Every entry has the same length in HEX: fill one (count, row) byte matrix."""
    pieces: list[bytes | npt.NDArray[np.uint8]] = [b'{"key":"']
    pieces.append(_hex_matrix(records(keys, count, key_size)))
    if per_cpu:
        pieces.append(b'","values":[')
        for c in range(ncpus):
            pieces.append(b'%s{"cpu":%d,"value":"' % (b"," if c else b"", c))
            pieces.append(_hex_matrix(records(values, count, value_size, stride, c * slot)))
            pieces.append(b'"}')
        pieces.append(b"]},")
    else:
        pieces.append(b'","value":"')
        pieces.append(_hex_matrix(records(values, count, value_size, stride)))
        pieces.append(b'"},')
    width = sum(p.shape[1] if isinstance(p, np.ndarray) else len(p) for p in pieces)
    # One flat buffer: "[" then the rows; the last row's trailing "," becomes "]".
    flat = np.empty(1 + count * width, dtype=np.uint8)
    flat[0] = ord("[")
    rows = flat[1:].reshape(count, width)
    pos = 0
    for p in pieces:
        n = p.shape[1] if isinstance(p, np.ndarray) else len(p)
        rows[:, pos : pos + n] = p if isinstance(p, np.ndarray) else np.frombuffer(p, np.uint8)
        pos += n
    flat[-1] = ord("]")
    return flat.tobytes()
