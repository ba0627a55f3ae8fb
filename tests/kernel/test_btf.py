"""devagent.bpf.btf and btf_render against real kernel objects: our rendering of every map
entry must equal what `bpftool -j map dump` prints under "formatted".

Two sources of maps: tests/bpf/btf_types.bpf.c (compiled with clang, loaded with bpftool
into a private bpffs), and a map created here from BTF we encode ourselves, for the kinds
and encodings clang 14 never emits (ENUM64, CHAR ints, int bit offsets, odd-width ints,
type tags, 8-byte ENUMs, kind_flag unions). Entries are partly hand-picked, partly random
bytes from a fixed seed.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devagent.bpf import _sys
from devagent.bpf.btf import load_btf, parse_btf
from devagent.bpf.btf.cnames import type_to_c
from devagent.bpf.btf.objects import list_btf
from devagent.bpf.btf.types import BTFError, Datasec, Enum, Int, Kind, Struct, Var
from devagent.bpf.handles import Fd
from devagent.bpf.info import BtfObjectInfo
from devagent.bpf.maps import MapHandle, possible_cpus
from devagent.bpf.objects import get_map
from devagent.bpf.pins import pin_object
from devagent.model.btf_entries import load_map_btf, render_dump, render_map_entry
from devagent.model.btf_render import compile_renderer, render
from tests.conftest import build_bpf, require_kernel

VMLINUX = Path("/sys/kernel/btf/vmlinux")
SEED = 20240611
GLOBAL_DATA = ("_data", "_bss")


# ---------------------------------------------------------------- environment


def _tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for d in ("/usr/sbin", "/sbin") if os.access(p := f"{d}/{name}", os.X_OK)), None
    )


def bpftool(*args: str) -> str:
    tool = _tool("bpftool")
    assert tool is not None
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def bpftool_formatted(pin: str) -> list[object]:
    return [entry["formatted"] for entry in json.loads(bpftool("-j", "map", "dump", "pinned", pin))]


def pinned_map_id(pin: str) -> int:
    return int(json.loads(bpftool("-j", "map", "show", "pinned", pin))["id"])


def canonical(entries: list[object]) -> list[str]:
    """Order-free, type-strict comparison form (True is not 1, 1 is not 1.0)."""
    return sorted(json.dumps(e, sort_keys=True) for e in entries)


# ---------------------------------------------------------------- hand-encoded BTF


class BtfWriter:
    """Encodes BTF type records and strings, to load BTF the compiler would not produce."""

    def __init__(self, first_id: int = 1, str_base: int = 0) -> None:
        self.records: list[bytes] = []
        self.strings = bytearray(b"" if str_base else b"\0")
        self.offsets: dict[str, int] = {} if str_base else {"": 0}
        self.first_id = first_id
        self.str_base = str_base

    def s(self, text: str) -> int:
        if not text:
            return 0
        if text not in self.offsets:
            self.offsets[text] = self.str_base + len(self.strings)
            self.strings += text.encode() + b"\0"
        return self.offsets[text]

    def add(self, kind: Kind, name: str, size_or_type: int, *, vlen: int = 0,
            kflag: bool = False, tail: bytes = b"") -> int:  # fmt: skip
        info = (int(kflag) << 31) | (int(kind) << 24) | vlen
        self.records.append(struct.pack("<III", self.s(name), info, size_or_type) + tail)
        return self.first_id + len(self.records) - 1

    def int(self, name: str, size: int, bits: int, enc: int = 0, offset: int = 0) -> int:
        return self.add(
            Kind.INT, name, size, tail=struct.pack("<I", enc << 24 | offset << 16 | bits)
        )

    def ref(self, kind: Kind, target: int, name: str = "") -> int:
        return self.add(kind, name, target)

    def array(self, elem: int, nelems: int, index: int) -> int:
        return self.add(Kind.ARRAY, "", 0, tail=struct.pack("<III", elem, index, nelems))

    def struct(self, name: str, size: int, members: list[tuple[str, int, int, int]],
               union: bool = False) -> int:  # fmt: skip
        """members: (name, type, bit offset, bitfield size); kind_flag if any bitfield size."""
        kflag = any(m[3] for m in members)
        tail = b"".join(
            struct.pack("<III", self.s(n), t, (bf << 24 | off) if kflag else off)
            for n, t, off, bf in members
        )
        kind = Kind.UNION if union else Kind.STRUCT
        return self.add(kind, name, size, vlen=len(members), kflag=kflag, tail=tail)

    def enum(self, name: str, size: int, values: list[tuple[str, int]], signed: bool) -> int:
        tail = b"".join(struct.pack("<II", self.s(n), v & 0xFFFFFFFF) for n, v in values)
        return self.add(Kind.ENUM, name, size, vlen=len(values), kflag=signed, tail=tail)

    def enum64(self, name: str, size: int, values: list[tuple[str, int]], signed: bool) -> int:
        tail = b"".join(
            struct.pack("<III", self.s(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF)
            for n, v in values
        )
        return self.add(Kind.ENUM64, name, size, vlen=len(values), kflag=signed, tail=tail)

    def blob(self) -> bytes:
        types = b"".join(self.records)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                          len(self.strings))  # fmt: skip
        return hdr + types + bytes(self.strings)


@dataclass
class OddTypes:
    """Ids and layout of the hand-encoded map's key and value."""

    blob: bytes
    key_id: int
    value_id: int
    key_size: int = 16
    value_size: int = 128
    ids: dict[str, int] = field(default_factory=dict)
    compat: bool = False  # the encoding for kernels that refuse newer kinds


def encode_odd_types(compat: bool = False) -> OddTypes:
    """The odd key and value types. `compat`: for kernels that refuse newer kinds (ENUM64
    and signed enums 6.0, DECL_TAG 5.16, TYPE_TAG 5.17): the 64-bit enums become plain
    64-bit ints, the signed enum an unsigned one, no decl tags, the key's pointer points at
    u32 without its type tag."""
    w = BtfWriter()
    u32 = w.int("unsigned int", 4, 32)
    u64 = w.int("unsigned long long", 8, 64)
    u24 = w.int("u24", 4, 24)
    nib = w.int("nib", 1, 4, offset=2)
    tiny = w.int("tiny3", 1, 3)
    ch8 = w.int("ch8", 1, 8, enc=2)
    chs = w.array(ch8, 4, u32)
    boolean = w.int("_Bool", 1, 8, enc=4)
    if compat:
        e64u, e64s = u64, w.int("long long", 8, 64, enc=1)
    else:
        e64u = w.enum64("big64", 8, [("E_BIG", 1 << 40), ("E_MAX", 2**64 - 1),
                                     ("E_DUP", 1 << 40)], signed=False)  # fmt: skip
        e64s = w.enum64("neg64", 8, [("E_NEG", -2), ("E_ONE", 1)], signed=True)
    e8 = w.enum("wide_enum", 8, [("E8_M1", -1), ("E8_ONE", 1)], signed=False)
    # Signed enums (kind_flag) came with ENUM64 in 6.0.
    e2 = w.enum("short_enum", 2, [("E2_NEG", -3), ("E2_A", 7), ("E2_A2", 7)], signed=not compat)
    proto = w.add(Kind.FUNC_PROTO, "", u32, vlen=1, tail=struct.pack("<II", w.s("x"), u64))
    fptr = w.ref(Kind.PTR, proto)
    fwd = w.add(Kind.FWD, "opaque", 0)
    fwdptr = w.ref(Kind.PTR, fwd)
    i128 = w.int("__int128", 16, 128, enc=1)
    char = w.int("char", 1, 8, enc=1)
    chr_t = w.ref(Kind.TYPEDEF, char, "chr_t")
    tchars = w.array(chr_t, 4, u32)
    cchar = w.ref(Kind.CONST, char)
    cchars = w.array(cchar, 4, u32)
    empty = w.array(u32, 0, u32)
    vu24 = w.ref(Kind.VOLATILE, u24)
    ku = w.struct("kunion", 8, [("a", u32, 0, 5), ("b", u64, 0, 33), ("whole", u64, 0, 0)],
                  union=True)  # fmt: skip
    u12 = w.int("u12", 2, 12)
    schar = w.int("signed char", 1, 8, enc=1)
    value = w.struct("odd", 128, [
        ("u24", u24, 0, 0), ("nib", nib, 32, 0), ("tiny", tiny, 43, 0), ("ch", ch8, 48, 0),
        ("chs", chs, 56, 0), ("flag", boolean, 88, 0), ("e64u", e64u, 128, 0),
        ("e64s", e64s, 192, 0), ("e8", e8, 256, 0), ("e2", e2, 320, 0), ("fp", fptr, 384, 0),
        ("fw", fwdptr, 448, 0), ("i128", i128, 640, 0), ("tchars", tchars, 768, 0),
        ("cchars", cchars, 800, 0), ("empty", empty, 832, 0), ("vu24", vu24, 832, 0),
        ("ku", ku, 896, 0), ("u12", u12, 960, 0), ("sc", schar, 976, 0),
    ])  # fmt: skip
    if not compat:
        w.add(Kind.DECL_TAG, "noted", value, tail=struct.pack("<i", 1))
        w.add(Kind.DECL_TAG, "whole_struct", value, tail=struct.pack("<i", -1))
    tagged = w.ref(Kind.PTR, u32 if compat else w.ref(Kind.TYPE_TAG, u32, "user"))
    key = w.struct("okey", 16, [("id", u32, 0, 0), ("uptr", tagged, 64, 0)])
    ids = {"ku": ku, "e64u": e64u, "tagged": tagged, "proto": proto, "tchars": tchars}
    return OddTypes(w.blob(), key, value, ids=ids, compat=compat)


class BtfLoadAttr(ctypes.Structure):
    _fields_ = (
        ("btf", ctypes.c_uint64),
        ("btf_log_buf", ctypes.c_uint64),
        ("btf_size", ctypes.c_uint32),
        ("btf_log_size", ctypes.c_uint32),
        ("btf_log_level", ctypes.c_uint32),
    )


def kernel_load_btf(blob: bytes) -> Fd:
    data = ctypes.create_string_buffer(blob, len(blob))
    log = ctypes.create_string_buffer(1 << 16)
    attr = BtfLoadAttr(btf=_sys.addr(data), btf_size=len(blob), btf_log_buf=_sys.addr(log),
                       btf_log_size=len(log), btf_log_level=1)  # fmt: skip
    try:
        return Fd(_sys.bpf(_sys.Cmd.BTF_LOAD, attr, what="hand-encoded BTF"))
    except OSError as exc:
        raise AssertionError(f"{exc}: {log.value.decode(errors='replace')}") from exc


def kernel_refuses_newer_kinds() -> bool:
    """Whether this kernel refuses BTF holding just one of the kinds newer than 5.10
    (ENUM64, DECL_TAG, TYPE_TAG): then the odd types are loaded in their compat encoding."""
    for add in (
        lambda w, u: w.enum64("e", 8, [("A", 1)], signed=False),
        lambda w, u: w.add(Kind.DECL_TAG, "t", w.struct("s", 4, [("a", u, 0, 0)]),
                           tail=struct.pack("<i", -1)),
        lambda w, u: w.ref(Kind.PTR, w.ref(Kind.TYPE_TAG, u, "user")),
    ):  # fmt: skip
        w = BtfWriter()
        add(w, w.int("unsigned int", 4, 32))
        try:
            kernel_load_btf(w.blob()).close()
        except AssertionError:
            return True
    return False


def create_btf_hash(btf_fd: Fd, odd: OddTypes, max_entries: int) -> Fd:
    attr = _sys.MapCreateAttr(
        map_type=1, key_size=odd.key_size, value_size=odd.value_size, max_entries=max_entries,
        map_name=b"btf_odd", btf_fd=btf_fd.fd, btf_key_type_id=odd.key_id,
        btf_value_type_id=odd.value_id,
    )  # fmt: skip
    return Fd(_sys.bpf(_sys.Cmd.MAP_CREATE, attr, what="map btf_odd"))


# ---------------------------------------------------------------- entries


def rand_bytes(rng: random.Random, n: int) -> bytearray:
    # Mostly small bytes and zeros so that enums match, strings terminate and bools vary.
    pool = [0, 0, 0, 1, 5, 7, 0x41, 0x61, 0x7E, 0x20, 0x80, 0xFF]
    return bytearray(rng.choice(pool) if rng.random() < 0.6 else rng.randrange(256)
                     for _ in range(n))  # fmt: skip


def no_backslash(buf: bytearray) -> bytes:
    """bpftool v7.1.0 prints a backslash in a string as "\\n": keep them out of random data."""
    return bytes(b if b != 0x5C else 0x5B for b in buf)


def flow_key(i: int, name: bytes, color: int) -> bytes:
    k = bytearray(56)
    struct.pack_into("<BxHIQ", k, 0, 200 + i, 65535 - i, 4_000_000_000 + i, 2**64 - 1 - i)
    k[16:24] = name.ljust(8, b"\0")[:8]
    struct.pack_into("<Hbc", k, 24, 8080, -3, b"x")
    struct.pack_into("<I", k, 28, 0x0100007F)
    struct.pack_into("<HH", k, 32, 1, 2)
    struct.pack_into("<i", k, 36, color)
    k[40] = (1, 200, 3)[i % 3]
    struct.pack_into("<I", k, 44, 42 + i)
    bits = 5 | 300 << 3 | 0xC << 12 | (2**40 - 3) << 16 | 5 << 56
    struct.pack_into("<Q", k, 48, bits)
    return bytes(k)


def flow_val(i: int, comm: bytes) -> bytes:
    v = bytearray(128)
    struct.pack_into("<4i", v, 0, 1, -2, 3, 2**31 - 1)
    v[16:32] = comm.ljust(16, b"\0")[:16]
    v[32] = i % 2
    v[33:36] = bytes([0, 1, 2])
    struct.pack_into("<qhb", v, 40, -1234567890123, -300, -5)
    v[51:55] = bytes([65, 0, 255, 66])
    v[55:58] = bytes([1, 2, 3])
    struct.pack_into("<QQ", v, 64, 0xFFFF888812345678, 0)
    struct.pack_into("<QQ", v, 80, 0x1122334455667788, 0x99 if i else 0)
    struct.pack_into("<QQ", v, 96, 2**64 - 1, 2**64 - 1)
    v[112:118] = b"ab\0c\x01\x00"
    struct.pack_into("<HbcHbc", v, 118, 1, 2, b"Z", 3, -4, b"\x07")
    return bytes(v)


def odd_value(rng: random.Random) -> bytes:
    v = rand_bytes(rng, 128)
    for i in range(6, 11):  # CHAR ints: bpftool prints '"' and '\' unescaped (invalid JSON)
        if v[i] in (0x22, 0x5C):
            v[i] = 0x23
    return no_backslash(v)


# ---------------------------------------------------------------- the fixture


@dataclass
class Loaded:
    root: Path
    pins: dict[str, str] = field(default_factory=dict)  # short name -> pin path
    ids: dict[str, int] = field(default_factory=dict)
    btf_id: int = 0
    odd: OddTypes | None = None
    fds: list[Fd] = field(default_factory=list)


def populate(loaded: Loaded, rng: random.Random) -> None:
    ncpus = possible_cpus()
    with MapHandle.open(loaded.ids["flows"]) as h:
        h.update(flow_key(0, b"eth0", 0), flow_val(0, b"nginx"))
        h.update(flow_key(1, b"12345678", 5), flow_val(1, b'it\'s "q" ok'))
        h.update(flow_key(2, b"a\x01b", -1), flow_val(2, "\u00e9t\u00e9".encode()))
        h.update(flow_key(3, b"", 7), flow_val(3, b"tab\there"))
        h.update(flow_key(4, b"bs", 0), flow_val(4, b"back\\slash"))
        for _ in range(10):
            h.update(no_backslash(rand_bytes(rng, 56)), no_backslash(rand_bytes(rng, 128)))
    with MapHandle.open(loaded.ids["pcpu_names"]) as h:
        slots = [struct.pack("<QI6s6x", 10 + c, 20 + c, b"abc") for c in range(ncpus)]
        h.update(b"sshd".ljust(12, b"\0"), b"".join(slots))
        slots = [struct.pack("<QI6s6x", c, c, b"abcdef") for c in range(ncpus)]
        h.update(b"x" * 12, b"".join(slots))
        for _ in range(4):
            h.update(no_backslash(rand_bytes(rng, 12)),
                     b"".join(no_backslash(rand_bytes(rng, 24)) for _ in range(ncpus)))  # fmt: skip
    with MapHandle.open(loaded.ids["pcpu_shorts"]) as h:
        h.update(struct.pack("<I", 1), b"".join(struct.pack("<h6x", -1 - c) for c in range(ncpus)))
    with MapHandle.open(loaded.ids["colors"]) as h:
        h.update(struct.pack("<I", 1), struct.pack("<i", 5))
        h.update(struct.pack("<I", 2), struct.pack("<i", 99))
    with MapHandle.open(loaded.ids["bools"]) as h:
        h.update(struct.pack("<I", 1), b"\x02")
    with MapHandle.open(loaded.ids["unions"]) as h:
        h.update(struct.pack("<q", -5), struct.pack("<Q", 0x0102030405060708))
        h.update(struct.pack("<q", 2**62), struct.pack("<Q", 2**64 - 1))
    with MapHandle.open(loaded.ids["floats"]) as h:
        h.update(b"abcd", struct.pack("<f", 1.5))
    with MapHandle.open(loaded.ids["data"]) as h:
        h.update(struct.pack("<I", 0), struct.pack("<Q8s", 99, b"hi\0there"))
    odd = loaded.odd
    assert odd is not None
    with MapHandle.open(loaded.ids["odd"]) as h:
        v = bytearray(128)
        struct.pack_into("<I", v, 0, 0xABCDEF)
        v[4] = 0b0011_0100  # nib: bits 2..5 = 0b1101
        v[5] = 0b0011_1000  # tiny: bits 3..5 = 0b111
        v[6] = ord("Q")
        v[7:11] = b"ab\0\0"
        v[11] = 2
        struct.pack_into("<QqQh6xQQ", v, 16, 1 << 40, -2, 2**64 - 1, -3, 0xFFFF0000, 0)
        struct.pack_into("<QQ", v, 80, 2**64 - 1, 1)
        v[96:100], v[100:104] = b"ab\0\0", b"cd\0\0"
        struct.pack_into("<I", v, 104, 0x123456)
        struct.pack_into("<QHb", v, 112, 2**64 - 1, 0xFFFF, -7)
        h.update(struct.pack("<IxxxxQ", 1, 0xFFFF_8000_0000_0000), bytes(v))
        v[6], v[7:11], v[11] = 0x07, b"\x01\x02\x03\x04", 0
        struct.pack_into("<QqQh", v, 16, 12345, 1, 1, 7)
        h.update(struct.pack("<IxxxxQ", 2, 0), bytes(v))
        for i in range(40):
            key = struct.pack("<I", 100 + i) + bytes(4) + rand_bytes(rng, 8)
            h.update(key, odd_value(rng))


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    require_kernel()
    root = Path(tempfile.mkdtemp(prefix="devagent-btf-"))
    fs = root / "bpffs"
    fs.mkdir()
    mounted = False
    state = Loaded(root)
    try:
        obj = build_bpf("btf_types.bpf.o", root)
        subprocess.run(["mount", "-t", "bpf", "bpf", str(fs)], check=True, capture_output=True)
        mounted = True
        bpftool("prog", "loadall", str(obj), str(fs / "progs"), "pinmaps", str(fs / "maps"))
        for pin in sorted((fs / "maps").iterdir()):
            # Global-data maps are pinned as <object>_data / <object>_bss.
            short = pin.name.rsplit("_", 1)[-1] if pin.name.endswith(GLOBAL_DATA) else pin.name
            state.pins[short] = str(pin)
            state.ids[short] = pinned_map_id(str(pin))
        state.btf_id = get_map(state.ids["flows"]).btf_id
        state.odd = odd = encode_odd_types()
        try:
            btf_fd = kernel_load_btf(odd.blob)
        except AssertionError:  # a kernel without the newer kinds refuses them
            if not kernel_refuses_newer_kinds():
                raise
            state.odd = odd = encode_odd_types(compat=True)
            btf_fd = kernel_load_btf(odd.blob)
        map_fd = create_btf_hash(btf_fd, odd, 64)
        state.fds += [btf_fd, map_fd]
        state.pins["odd"] = str(fs / "maps" / "odd")
        pin_object(map_fd, state.pins["odd"])
        state.ids["odd"] = pinned_map_id(state.pins["odd"])
        populate(state, random.Random(SEED))
        yield state
    finally:
        for fd in state.fds:
            fd.close()
        if mounted:
            subprocess.run(["umount", str(fs)], check=False)
        shutil.rmtree(root, ignore_errors=True)


def ours(loaded: Loaded, name: str) -> list[object]:
    info = get_map(loaded.ids[name])
    btf = load_map_btf(info)
    assert btf is not None
    with MapHandle.open(info.id) as h:
        dump = h.read_all()
    return list(render_dump(btf, info, dump))


# ---------------------------------------------------------------- rendering = bpftool


COMPARED = ["flows", "pcpu_names", "pcpu_shorts", "colors", "bools", "unions", "data", "bss",
            "odd"]  # fmt: skip


def comm(entry: object) -> object:
    assert isinstance(entry, dict)
    return entry["value"]["comm"]


@pytest.mark.parametrize("name", COMPARED)
def test_rendering_equals_bpftool(loaded: Loaded, name: str) -> None:
    mine, ref = ours(loaded, name), bpftool_formatted(loaded.pins[name])
    assert len(mine) == len(ref) > 0
    if name == "flows":  # the one entry with a backslash differs on purpose, see below
        mine = [e for e in mine if comm(e) != "back\\slash"]
        ref = [e for e in ref if comm(e) != "back\nslash"]
        assert len(mine) == len(ref) == 14
    assert canonical(mine) == canonical(ref)


def test_rendering_details(loaded: Loaded) -> None:
    """The bpftool rules the comparison relies on, spelled out on hand-picked entries."""
    # Hand-picked entries have u32 = 4_000_000_000 + i, which random keys do not hit.
    by_u32 = {e["key"]["u32"]: e for e in ours(loaded, "flows") if isinstance(e, dict)}
    key, value = by_u32[4_000_000_000]["key"], by_u32[4_000_000_000]["value"]
    assert key["name"] == "eth0" and key["color"] == "RED" and key["small"] == "SMALL_A"
    assert key[""] == {"lo16": 1, "hi16": 2}  # two anonymous members: the last one wins
    assert key["bits"] == {"lo": "0x5", "mid": "0x12c", "neg": "0xc", "wide": "0xfffffffffd",
                           "ebits": "0x5"}  # fmt: skip
    assert key["in"] == {"port": 8080, "delta": -3, "tag": 120}  # a lone char is a number
    assert value["comm"] == "nginx" and value["grid"] == ["ab", [99, 1, 0]]
    assert value["uc"] == [65, 0, 255, 66]  # unsigned char arrays are never strings
    assert value["flag"] is False and value["flags"] == [False, True, True]
    assert value["ptr"] == 0xFFFF888812345678 and value["cptr"] == 0
    assert value["big"] == "0x1122334455667788"
    assert value["sbig"] == "0x" + "f" * 32
    k1, k2, k3 = (by_u32[4_000_000_000 + i]["key"] for i in (1, 2, 3))
    assert k1["name"] == [49, 50, 51, 52, 53, 54, 55, 56]  # no NUL: no string
    assert k1["small"] == -56  # 200 read as a signed byte matches no enumerator
    assert k2["color"] == "BLUE" and k2["name"][:3] == [97, 1, 98]
    assert k3["color"] == 7 and k3["name"] == ""
    assert by_u32[4_000_000_002]["value"]["comm"][:2] == [-61, -87]  # UTF-8: not printable


def test_hand_encoded_kinds(loaded: Loaded) -> None:
    """Each odd kind rendered as bpftool does; where the kernel refused the newer kinds,
    their fields are the plain 64-bit ints that stood in for them."""
    assert loaded.odd is not None
    compat = loaded.odd.compat
    by_id = {e["key"]["id"]: e for e in ours(loaded, "odd") if isinstance(e, dict)}
    one, two = by_id[1], by_id[2]
    assert one["key"]["uptr"] == 0xFFFF_8000_0000_0000  # through a type tag: a number
    v = one["value"]
    assert v["u24"] == "0xabcdef" and v["nib"] == "0xd" and v["tiny"] == "0x7"
    assert v["ch"] == "Q" and v["chs"] == "ab" and v["flag"] is True
    assert (v["e64u"], v["e64s"]) == ((1 << 40, -2) if compat else ("E_BIG", "E_NEG"))
    assert v["e8"] == "E8_M1"
    if not compat:  # unsigned, -3 is bpftool's to judge (test_rendering_equals_bpftool)
        assert v["e2"] == "E2_NEG"
    assert v["i128"] == "0x1ffffffffffffffff"
    assert v["tchars"] == [97, 98, 0, 0] and v["cchars"] == "cd"  # typedef'd char: no string
    assert v["empty"] == [] and v["vu24"] == "0x123456"
    assert v["ku"] == {"a": "0x1f", "b": "0x1ffffffff", "whole": 2**64 - 1}
    assert v["u12"] == "0xfff" and v["sc"] == -7
    w = two["value"]
    assert w["ch"] == "\x07" and w["chs"] == ["\x01", "\x02", "\x03", "\x04"]
    assert w["flag"] is False and w["e64u"] == 12345 and w["e64s"] == (1 if compat else "E_ONE")
    assert w["e8"] == "E8_ONE" and w["e2"] == "E2_A"


def test_backslash_kept_where_bpftool_prints_newline(loaded: Loaded) -> None:
    """bpftool v7.1.0's json_writer escapes a backslash as "\\n"; we keep the backslash."""
    mine = [e for e in ours(loaded, "flows") if comm(e) == "back\\slash"]
    ref = [e for e in bpftool_formatted(loaded.pins["flows"]) if comm(e) == "back\nslash"]
    assert len(mine) == len(ref) == 1
    assert canonical([mine[0]["key"]]) == canonical([ref[0]["key"]])


def kernel_kinds(loaded: Loaded) -> set[Kind]:
    """The kinds of the kernel's copy of the fixture program's BTF: libbpf rewrites kinds the
    kernel does not know (FLOAT before 5.13) into ones it does."""
    return {t.kind for _, t in load_btf(loaded.btf_id).types()}


def test_float_rendered_where_bpftool_breaks(loaded: Loaded) -> None:
    """bpftool v7.1.0 prints "(unsupported-kind" for FLOAT (invalid JSON); we give the float.
    Before 5.13 libbpf gave the kernel bytes in its place: both render those the same."""
    if Kind.FLOAT not in kernel_kinds(loaded):
        assert ours(loaded, "floats") == bpftool_formatted(loaded.pins["floats"])
        return
    assert "(unsupported-kind" in bpftool("-j", "map", "dump", "pinned", loaded.pins["floats"])
    assert ours(loaded, "floats") == [{"key": [97, 98, 99, 100], "value": 1.5}]


def test_render_map_entry_shapes(loaded: Loaded) -> None:
    info = get_map(loaded.ids["pcpu_names"])
    btf = load_btf(info.btf_id)
    key = b"sshd".ljust(12, b"\0")
    with MapHandle.open(info.id) as h:
        raw = h.lookup(key)
    assert raw is not None
    slot = (info.value_size + 7) & ~7
    per_cpu = [raw[c * slot : c * slot + info.value_size] for c in range(possible_cpus())]
    entry = render_map_entry(btf, info, key, per_cpu)
    assert entry == render_map_entry(btf, info, key, raw)  # all slots as one buffer
    assert entry["key"] == "sshd"
    assert entry["values"] == [
        {"cpu": c, "value": {"packets": 10 + c, "bytes": 20 + c, "last": "abc"}}
        for c in range(possible_cpus())
    ]
    ref = [e for e in bpftool_formatted(loaded.pins["pcpu_names"]) if e["key"] == "sshd"]
    assert ref == [entry]
    colors = get_map(loaded.ids["colors"])
    one = struct.pack("<I", 1)
    assert render_map_entry(btf, colors, one, struct.pack("<i", 5)) == {"key": 1, "value": "GREEN"}
    data = get_map(loaded.ids["data"])
    assert data.btf_key_type_id == 0
    entry = render_map_entry(btf, data, bytes(4), struct.pack("<Q8s", 1, b"x"))
    assert entry == {"value": {".data": [{"total_packets": 1}, {"greeting": "x"}]}}


def test_renderers_are_compiled_once(loaded: Loaded) -> None:
    info = get_map(loaded.ids["flows"])
    btf = load_btf(info.btf_id)
    assert load_btf(info.btf_id) is btf
    r = compile_renderer(btf, info.btf_value_type_id)
    assert compile_renderer(btf, info.btf_value_type_id) is r
    with MapHandle.open(info.id) as h:
        dump = h.read_all()
    values = [dump.value(i) for i in range(dump.count)]
    n = 20_000
    start = time.perf_counter()
    for i in range(n):
        r(values[i % len(values)])
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"{n} renders of a 128-byte struct took {elapsed:.1f}s"


# ---------------------------------------------------------------- the parsed types


def test_program_btf_types(loaded: Loaded) -> None:
    btf = load_btf(loaded.btf_id)
    kinds = {t.kind for _, t in btf.types()}
    assert {Kind.INT, Kind.PTR, Kind.ARRAY, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD,
            Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR,
            Kind.DATASEC} <= kinds  # fmt: skip
    key_id = btf.find("flow_key", Kind.STRUCT)
    assert key_id is not None and btf.size_of(key_id) == 56
    key = btf.type(key_id)
    assert isinstance(key, Struct) and not key.is_union
    members = {m.name: m for m in key.members}
    assert type_to_c(btf, key_id) == "struct flow_key"
    assert type_to_c(btf, members["u64"].type) == "__u64"
    assert type_to_c(btf, members["name"].type) == "char[8]"
    assert type_to_c(btf, members["color"].type) == "enum color"
    assert type_to_c(btf, members["ifindex"].type) == "cv_ifindex_t"
    assert type_to_c(btf, btf.resolve(members["ifindex"].type)) == "unsigned int"
    bits = btf.type(members["bits"].type)
    assert isinstance(bits, Struct)
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in bits.members] == [
        ("lo", 0, 3), ("mid", 3, 9), ("neg", 12, 4), ("wide", 16, 40), ("ebits", 56, 8)
    ]  # fmt: skip
    color = btf.type(members["color"].type)
    assert isinstance(color, Enum) and [(v.name, v.value) for v in color.values] == [
        ("RED", 0), ("GREEN", 5), ("BLUE", 0xFFFFFFFF)
    ]  # fmt: skip
    val_id = btf.find("flow_val")
    assert val_id is not None and btf.size_of(val_id) == 128
    val = btf.type(val_id)
    assert isinstance(val, Struct)
    vm = {m.name: m.type for m in val.members}
    assert type_to_c(btf, vm["ptr"]) == "void *"
    assert type_to_c(btf, vm["cptr"]) == "const char *"
    assert type_to_c(btf, vm["grid"]) == "char[2][3]"
    assert type_to_c(btf, vm["inners"]) == "struct inner[2]"
    big = btf.type(vm["big"])
    assert isinstance(big, Int) and big.bits == 128 and not big.signed
    func = btf.find("use_maps", Kind.FUNC)
    assert func is not None and type_to_c(btf, func) == "int use_maps(struct __sk_buff *)"
    data = btf.find(".data", Kind.DATASEC)
    assert data is not None
    sec = btf.type(data)
    assert isinstance(sec, Datasec) and btf.size_of(data) == 16
    names = [btf.name_of(v.type) for v in sec.vars]
    assert names == ["total_packets", "greeting"]
    assert isinstance(btf.type(sec.vars[1].type), Var)
    assert btf.name_of(btf.find("either") or 0) == "either"
    assert btf.find("no_such_type") is None


def test_hand_encoded_btf_parses(loaded: Loaded) -> None:
    """The parser reads every kind whatever the kernel knows; the kernel's copy of what it
    took equals what was given."""
    odd = encode_odd_types()
    btf = parse_btf(odd.blob)
    assert {t.kind for _, t in btf.types()} >= {Kind.ENUM64, Kind.DECL_TAG, Kind.TYPE_TAG}
    assert type_to_c(btf, odd.ids["tagged"]) == "unsigned int *"
    assert type_to_c(btf, odd.ids["proto"]) == "unsigned int (unsigned long long)"
    assert type_to_c(btf, odd.ids["tchars"]) == "chr_t[4]"
    assert type_to_c(btf, odd.ids["ku"]) == "union kunion"
    e64 = btf.type(odd.ids["e64u"])
    assert isinstance(e64, Enum) and e64.values[1].value == 2**64 - 1
    assert loaded.odd is not None
    given = parse_btf(loaded.odd.blob)
    kernel = load_btf(get_map(loaded.ids["odd"]).btf_id)
    assert kernel.type_count == given.type_count
    assert all(kernel.type(i) == given.type(i) for i in range(given.type_count))


def test_vmlinux_btf() -> None:
    if not VMLINUX.exists():
        pytest.skip("the kernel has no /sys/kernel/btf/vmlinux")
    btf = parse_btf(VMLINUX.read_bytes())
    task = btf.find("task_struct", Kind.STRUCT)
    assert task is not None and btf.size_of(task) > 1000
    assert type_to_c(btf, task) == "struct task_struct"
    head = btf.find("list_head", Kind.STRUCT)
    assert head is not None and btf.size_of(head) == 16
    u64 = btf.find("u64", Kind.TYPEDEF)
    assert u64 is not None and btf.size_of(u64) == 8
    assert isinstance(btf.type(btf.resolve(u64)), Int)
    with pytest.raises(BTFError):
        btf.type(btf.type_count)
    # Every record decodes, and rendering a list_head gives its two pointers.
    assert sum(1 for _ in btf.types()) == btf.type_count - 1
    assert render(btf, head, struct.pack("<QQ", 1, 2)) == {"next": 1, "prev": 2}
    objects = [b for b in list_btf() if isinstance(b, BtfObjectInfo)]
    if os.geteuid() == 0 and any(b.name for b in objects):
        # Before 5.11 BTF objects have no names and the kernel's own BTF has no object id.
        vmlinux = [b for b in objects if b.name == "vmlinux"]
        assert vmlinux
        from_kernel = load_btf(vmlinux[0].id)
        assert from_kernel.type_count == btf.type_count
        assert from_kernel.type(task) == btf.type(task)


def test_split_btf() -> None:
    """Module BTF extends vmlinux: its ids and string offsets continue after the base's."""
    if not VMLINUX.exists():
        pytest.skip("the kernel has no /sys/kernel/btf/vmlinux")
    base = parse_btf(VMLINUX.read_bytes())
    head = base.find("list_head", Kind.STRUCT)
    assert head is not None
    w = BtfWriter(first_id=base.type_count, str_base=base.string_section_end)
    u32 = base.find("unsigned int", Kind.INT)
    assert u32 is not None
    mod = w.struct("mod_thing", 24, [("link", head, 0, 0), ("count", u32, 128, 0)])
    ptr = w.ref(Kind.PTR, mod)
    split = parse_btf(w.blob(), base)
    assert split.base is base and split.start_id == base.type_count == mod
    assert split.type_count == base.type_count + 2
    assert split.find("mod_thing") == mod and split.find("task_struct") == base.find("task_struct")
    assert split.type(head) == base.type(head)  # base ids resolve through the split BTF
    assert split.size_of(mod) == 24 and type_to_c(split, ptr) == "struct mod_thing *"
    data = struct.pack("<QQI4x", 1, 2, 3)
    assert render(split, mod, data) == {"link": {"next": 1, "prev": 2}, "count": 3}
    with pytest.raises(BTFError):
        parse_btf(w.blob())  # without its base: no leading empty string
    if os.geteuid() == 0:
        modules = [b for b in list_btf() if getattr(b, "kernel_btf", False)
                   and getattr(b, "name", "vmlinux") != "vmlinux"]  # fmt: skip
        for m in modules[:3]:
            mbtf = load_btf(m.id)
            assert mbtf.base is not None and mbtf.start_id == mbtf.base.type_count


# ---------------------------------------------------------------- errors


def minimal_btf() -> bytes:
    w = BtfWriter()
    u32 = w.int("unsigned int", 4, 32)
    w.struct("pair", 8, [("a", u32, 0, 0), ("b", u32, 32, 0)])
    return w.blob()


def test_errors() -> None:
    good = minimal_btf()
    btf = parse_btf(good)
    assert render(btf, 2, struct.pack("<II", 1, 2)) == {"a": 1, "b": 2}
    with pytest.raises(BTFError, match="magic"):
        parse_btf(b"\x00\x00" + good[2:])
    with pytest.raises(BTFError, match="truncated"):
        parse_btf(good[:10])
    with pytest.raises(BTFError, match="truncated"):
        parse_btf(good[:-4])  # the string section runs past the end
    with pytest.raises(BTFError, match="version"):
        parse_btf(good[:2] + b"\x02" + good[3:])
    # A record cut short: claim one more struct member than there is room for.
    hdr = 24
    info_at = hdr + 16 + 4  # second record's info word
    info = struct.unpack_from("<I", good, info_at)[0]
    with pytest.raises(BTFError, match="truncated"):
        parse_btf(good[:info_at] + struct.pack("<I", info + 1) + good[info_at + 4 :])
    with pytest.raises(BTFError, match="unknown kind 25"):
        parse_btf(good[:info_at] + struct.pack("<I", 25 << 24) + good[info_at + 4 :])
    for bad_id in (3, 1000, -1):
        with pytest.raises(BTFError, match="out of range"):
            btf.type(bad_id)
    with pytest.raises(BTFError, match="bytes of data"):
        render(btf, 2, b"\x01\x02\x03")
    with pytest.raises(BTFError, match="has no"):
        render(btf, 0, b"")
    w = BtfWriter()
    w.add(Kind.INT, "", 4, tail=struct.pack("<I", 32))
    blob = bytearray(w.blob())
    struct.pack_into("<I", blob, hdr, 999)  # name offset past the string section
    with pytest.raises(BTFError, match="string offset"):
        parse_btf(bytes(blob)).type(1)
    w = BtfWriter()
    loop = w.ref(Kind.TYPEDEF, 2, "a")
    w.ref(Kind.TYPEDEF, loop, "b")
    looped = parse_btf(w.blob())
    with pytest.raises(BTFError, match="loops"):
        looped.size_of(1)
    with pytest.raises(BTFError, match="loops"):
        looped.resolve(1)


def test_parsed_btf_is_not_kept_alive_by_its_renderers() -> None:
    btf = parse_btf(minimal_btf())
    render(btf, 2, bytes(8))
    ref = weakref.ref(btf)
    del btf
    gc.collect()
    assert ref() is None
