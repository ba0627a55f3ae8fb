"""`phydev inspect maps dump` against bpftool -j map dump of the same real maps."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devagent.bpf import maps as bpfmaps
from devagent.bpf.errors import InvalidArgument, NotSupported
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.cli.dump import dump_map
from devagent.model.codec import Format, format_bytes
from tests.conftest import PacketFixture, bpftool_json, require_kernel, run_phydev

QUIET_MAPS = ["lpm", "jmp_table", "outer"]  # not touched by the socket filter after setup
ALL_MAPS = ["flows", "AT_pkts", "counters", "pcpu_counters", "lru_lens", *QUIET_MAPS]


def raw(hex_bytes: list[str]) -> bytes:
    return bytes(int(b, 16) for b in hex_bytes)


def expected(ref: list[dict[str, object]], fmt: Format, key_size: int) -> list[dict[str, object]]:
    """bpftool's raw dump re-expressed in our --json shape and format."""
    out: list[dict[str, object]] = []
    for entry in ref:
        key = format_bytes(raw(entry["key"]), fmt)  # type: ignore[arg-type]
        if "values" in entry:
            values = [
                {"cpu": v["cpu"], "value": format_bytes(raw(v["value"]), fmt)}
                for v in entry["values"]  # type: ignore[attr-defined]
            ]
            out.append({"key": key, "values": values})
        else:
            out.append({"key": key, "value": format_bytes(raw(entry["value"]), fmt)})  # type: ignore[arg-type]
    return out


def by_key(entries: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {json.dumps(e["key"]): e for e in entries}


def stable_dump(map_id: int, *args: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(ours, bpftool's) taken when two of our reads agree: counters move with stray packets."""
    for _ in range(5):
        ours = json.loads(
            run_phydev("inspect", "maps", "dump", str(map_id), "--json", *args).stdout
        )
        ref = bpftool_json("map", "dump", "id", str(map_id))
        again = json.loads(
            run_phydev("inspect", "maps", "dump", str(map_id), "--json", *args).stdout
        )
        if by_key(ours) == by_key(again):
            break
    assert isinstance(ref, list)
    return ours, ref


@pytest.mark.parametrize("name", ALL_MAPS)
@pytest.mark.parametrize("fmt", ["hex", "number", "string"])
def test_dump_json_equals_bpftool(packet_fixture: PacketFixture, name: str, fmt: str) -> None:
    map_id = packet_fixture.obj.map_ids[name]
    ours, ref = stable_dump(map_id, "--format", fmt)
    info = bpftool_json("map", "show", "id", str(map_id))
    assert isinstance(info, dict)
    assert by_key(ours) == by_key(expected(ref, Format.parse(fmt), int(str(info["bytes_key"]))))
    assert len(ours) == len(ref)


@pytest.mark.parametrize("name", [n for n in ALL_MAPS if n != "outer"])
def test_dump_btf_equals_bpftool_formatted(packet_fixture: PacketFixture, name: str) -> None:
    map_id = packet_fixture.obj.map_ids[name]
    ours, ref = stable_dump(map_id, "--format", "btf")
    assert by_key(ours) == by_key([e["formatted"] for e in ref])


def test_dump_table_output(packet_fixture: PacketFixture) -> None:
    map_id = packet_fixture.obj.map_ids["lpm"]
    out = run_phydev("inspect", "maps", "dump", str(map_id), "--format", "hex").stdout.splitlines()
    assert out[0] == "Key\tValue"
    assert sorted(out[1:]) == sorted(["080000000a000000\t01000000", "18000000c0a80100\t02000000"])
    pcpu = packet_fixture.obj.map_ids["pcpu_counters"]
    lines = run_phydev("inspect", "maps", "dump", str(pcpu), "--format", "number").stdout
    header, *rows = lines.splitlines()
    assert header.split("\t")[0] == "Key" and header.split("\t")[1] == "CPU0"
    assert [r.split("\t")[0] for r in rows] == ["0", "1"]


def test_dump_defaults_to_btf_where_the_map_has_it(packet_fixture: PacketFixture) -> None:
    """As bpftool does: a map with BTF for keys and values dumps decoded by default (--json
    keeps hex, CONTRACT.md section 5); --key-format and --value-format set one part each."""
    map_id = packet_fixture.obj.map_ids["lpm"]
    default = run_phydev("inspect", "maps", "dump", str(map_id)).stdout
    assert default == run_phydev("inspect", "maps", "dump", str(map_id), "--format", "btf").stdout
    assert sorted(json.loads(line)["value"] for line in default.splitlines()) == [1, 2]
    mixed = run_phydev("inspect", "maps", "dump", str(map_id), "--key-format", "hex",
                       "--value-format", "number").stdout.splitlines()  # fmt: skip
    assert mixed[0] == "Key\tValue"
    assert sorted(mixed[1:]) == ["080000000a000000\t1", "18000000c0a80100\t2"]
    both = run_phydev("inspect", "maps", "dump", str(map_id), "--json", "--format", "number",
                      "--key-format", "hex").stdout  # fmt: skip
    assert sorted((e["key"], e["value"]) for e in json.loads(both)) == [
        ("080000000a000000", "1"), ("18000000c0a80100", "2")]  # fmt: skip
    with create_map(MAP_TYPE_IDS["Hash"], 4, 4, 4, name="t_nobtf2") as fd:
        plain = run_phydev("inspect", "maps", "dump", str(map_info(fd).id)).stdout
        assert plain == "Key\tValue\n"  # no BTF: hex, as before


def test_dump_errors_are_one_line(packet_fixture: PacketFixture) -> None:
    ring = packet_fixture.obj.map_ids["events"]
    result = run_phydev("inspect", "maps", "dump", str(ring), check=False)
    assert result.returncode == 1
    assert result.stderr == (
        f"phydev: map {ring} (events): RingBuf maps cannot be listed: a ring buffer is a byte "
        "stream read through mmap (the kernel answers EINVAL (22) to lookups)\n"
    )
    result = run_phydev("inspect", "maps", "dump", "4000000000", check=False)
    assert result.stderr == "phydev: map 4000000000 not found\n"
    outer = packet_fixture.obj.map_ids["outer"]  # map-in-map: the kernel keeps no BTF for it
    result = run_phydev("inspect", "maps", "dump", str(outer), "--format", "btf", check=False)
    assert result.stderr == f"phydev: map {outer}: has no BTF: use --format hex, string or number\n"
    assert "formatted" not in json.dumps(bpftool_json("map", "dump", "id", str(outer)))
    with create_map(MAP_TYPE_IDS["Hash"], 4, 4, 4, name="t_nobtf") as fd:
        map_id = map_info(fd).id
        result = run_phydev("inspect", "maps", "dump", str(map_id), "--format", "btf", check=False)
        assert result.returncode == 1
        assert "has no BTF: use --format hex, string or number" in result.stderr
        result = run_phydev(
            "inspect", "maps", "dump", str(map_id), "--format", "weird", check=False
        )
        assert result.returncode == 2 and "'weird' is not one of" in result.stderr


@pytest.mark.parametrize("name", ["flows", "AT_pkts", "pcpu_counters", "lru_lens", "lpm"])
def test_dump_in_many_batches_equals_one_batch(
    packet_fixture: PacketFixture, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The output is streamed one kernel batch at a time: with one-entry batches (in process)
    every format gives the same bytes as the CLI's big batches."""
    monkeypatch.setattr(bpfmaps, "BATCH_MAX_ENTRIES", 1)
    map_id = packet_fixture.obj.map_ids[name]
    for fmt, as_json in [("hex", True), ("number", False), ("string", True), ("btf", True),
                         ("btf", False), ("hex", False)]:  # fmt: skip
        args = ["inspect", "maps", "dump", str(map_id), "--format", fmt]
        for _ in range(5):  # counters move with stray packets: retry until a quiet moment
            pieces = list(dump_map(map_id, fmt, as_json))
            cli = run_phydev(*args, *(["--json"] if as_json else [])).stdout.encode()
            if b"".join(pieces) == cli:
                break
        assert b"".join(pieces).decode() == cli.decode()
        entries = len(json.loads(cli)) if as_json else len(cli.splitlines()) - (fmt != "btf")
        if kernel_batches(map_id) and entries > 1:  # else one key-by-key chunk
            chunks = (len(pieces) - 1) // 2 if as_json else len(pieces) - (fmt != "btf")
            assert chunks >= 2, (fmt, as_json, pieces)


def kernel_batches(map_id: int) -> bool:
    """Whether the kernel reads this map with BPF_MAP_LOOKUP_BATCH (LPM tries never do; some
    kernels refuse it for other types too): the dump then comes in one key-by-key chunk."""
    with MapHandle.open(map_id) as handle:
        try:
            next(handle._batch_counts())
        except (NotSupported, InvalidArgument):
            return False
    return True


@pytest.fixture(scope="module")
def big_map() -> Iterator[tuple[int, dict[int, int]]]:
    """A hash map over two kernel batches, its content known."""
    require_kernel()
    n = 200_000
    with create_map(MAP_TYPE_IDS["Hash"], 8, 8, n, name="t_dumpbig") as fd:
        handle = MapHandle(fd, map_info(fd))
        content = {i * 2654435761 % (1 << 64): i * 3 for i in range(n)}
        keys = b"".join(struct.pack("<Q", k) for k in content)
        values = b"".join(struct.pack("<Q", v) for v in content.values())
        assert handle.update_batch(keys, values) == n
        yield handle.info.id, content


def test_big_dump_streams_every_entry_once(big_map: tuple[int, dict[int, int]]) -> None:
    map_id, content = big_map
    out = run_phydev("inspect", "maps", "dump", str(map_id), "--json", "--format", "number")
    entries = json.loads(out.stdout)
    assert len(entries) == len(content)
    assert {int(e["key"]): int(e["value"]) for e in entries} == content
    table = run_phydev("inspect", "maps", "dump", str(map_id)).stdout.splitlines()
    assert table[0] == "Key\tValue" and len(table) == len(content) + 1
    row = table[1].split("\t")
    key = int.from_bytes(bytes.fromhex(row[0]), "little")
    assert content[key] == int.from_bytes(bytes.fromhex(row[1]), "little")


def test_dump_into_a_closed_pipe_stops_quietly(big_map: tuple[int, dict[int, int]]) -> None:
    map_id, _ = big_map
    exe = Path(sys.executable).parent / "phydev"
    proc = subprocess.Popen([str(exe), "inspect", "maps", "dump", str(map_id), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b'[{"key":"')
    proc.stdout.close()
    assert proc.wait(30) == 141
    assert proc.stderr.read() == b""
    proc.stderr.close()
