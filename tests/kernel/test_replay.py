"""`phydev inspect progs run ID --data-in FILE --repeat N` against `bpftool prog run`."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import InspectFixture, PacketFixture, bpftool_json, run_phydev


def udp_packet(payload: bytes = b"replayed") -> bytes:
    """An Ethernet + IPv4 + UDP packet, 127.0.0.1:1234 -> 127.0.0.1:9."""
    udp = struct.pack("!HHHH", 1234, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


@pytest.fixture(scope="module")
def packet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "packet.bin"
    path.write_bytes(udp_packet())
    return path


def bpftool_run(prog_id: int, data: Path, out: Path, repeat: int = 1) -> tuple[int, bytes]:
    result = bpftool_json("prog", "run", "id", str(prog_id), "data_in", str(data),
                          "data_out", str(out), "repeat", str(repeat))  # fmt: skip
    assert isinstance(result, dict)
    return result["retval"], out.read_bytes()


@pytest.mark.parametrize(
    "program",
    [
        "inspect_socket_filter_with_a_long_name",
        "inspect_xdp",
        "inspect_tc",
        "inspect_cgroup_egress",
    ],
)
def test_run_equals_bpftool(
    inspect_fixture: InspectFixture, packet_file: Path, tmp_path: Path, program: str
) -> None:
    prog_id = inspect_fixture.prog_id(program)
    args = ["--data-in", str(packet_file), "--repeat", "3", "--json"]
    ours = json.loads(run_phydev("inspect", "progs", "run", str(prog_id), *args).stdout)
    retval, data_out = bpftool_run(prog_id, packet_file, tmp_path / "out.bin", 3)
    assert ours["retval"] % (1 << 32) == retval
    assert bytes.fromhex(ours["dataOut"]) == data_out
    assert isinstance(ours["durationNs"], int) and ours["durationNs"] >= 0


def test_run_changes_maps_and_counts_repeats(
    inspect_fixture: InspectFixture, packet_file: Path
) -> None:
    """inspect_tc counts packets per protocol in the inner map of `by_proto`: a run of N
    repeats adds N, read back from the kernel."""
    inner = inspect_fixture.obj.map_pin("inner_h")
    key = struct.pack("<I", 0x0008)  # skb->protocol: ETH_P_IP in network byte order

    def count() -> int:
        for entry in bpftool_json("map", "dump", "pinned", inner) or []:  # type: ignore[union-attr]
            if bytes(int(b, 16) for b in entry["key"]) == key:
                return struct.unpack("<Q", bytes(int(b, 16) for b in entry["value"]))[0]  # type: ignore[no-any-return]
        return 0

    before = count()
    prog_id = str(inspect_fixture.prog_id("inspect_tc"))
    text = run_phydev("inspect", "progs", "run", prog_id, "--data-in", str(packet_file),
                      "--repeat", "7").stdout  # fmt: skip
    assert count() == before + 7
    assert "retval" in text and "durationNs" in text and "dataOut" in text


def test_refusals_are_clear(inspect_fixture: InspectFixture, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(b"\x01\x02")
    tracepoint = str(inspect_fixture.prog_id("inspect_tracepoint"))
    xdp = str(inspect_fixture.prog_id("inspect_xdp"))
    cases = [
        (tracepoint, tiny, "cannot test-run this program type"),
        ("999999999", tiny, "not found"),
    ]
    # Whether the kernel runs XDP on 2 bytes is its choice (5.10 does, later ones refuse):
    # bpftool asks the same kernel.
    kernel_runs = subprocess.run(["bpftool", "prog", "run", "id", xdp, "data_in", str(tiny)],
                                 capture_output=True).returncode == 0  # fmt: skip
    if kernel_runs:
        assert run_phydev("inspect", "progs", "run", xdp, "--data-in", str(tiny)).returncode == 0
    else:
        cases.append((xdp, tiny, "refused the input of 2 bytes"))
    for prog_id, data, message in cases:
        result = run_phydev("inspect", "progs", "run", prog_id, "--data-in", str(data),
                            check=False)  # fmt: skip
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    result = run_phydev("inspect", "progs", "run", tracepoint, "--data-in", str(tiny),
                        "--repeat", "0", check=False)  # fmt: skip
    assert result.returncode == 2 and "--repeat" in result.stderr


def test_data_from_stdin(packet_fixture: PacketFixture) -> None:
    """`--data-in -` reads the packet from standard input (count_packets returns 0)."""
    phydev = Path(sys.executable).parent / "phydev"
    prog_id = str(packet_fixture.obj.prog_ids["count_packets"])
    out = subprocess.run(
        [str(phydev), "inspect", "progs", "run", prog_id, "--data-in", "-", "--json"],
        input=udp_packet(), capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out)["retval"] == 0
