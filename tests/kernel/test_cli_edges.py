"""The CLI at its edges: ids outside u32, stdout closed or full, --bpf_dir where the Go agent
took it and where no bpffs is. Each case is one clear line and a status, never a traceback or
a silent success."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devagent.bpf.errors import NotFound
from devagent.bpf.handles import open_map, open_program
from tests.conftest import PacketFixture, run_phydev

PHYDEV = str(Path(sys.executable).parent / "phydev")


def run_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """`phydev ARGS >&-`: the child starts with fd 1 closed."""
    return subprocess.run(
        [PHYDEV, *args], stdout=None, stderr=subprocess.PIPE, text=True, check=False,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip


def test_ids_beyond_u32_are_usage_errors(packet_fixture: PacketFixture) -> None:
    """`dump <id + 2^32>` used to dump map `id`: the syscall's id field is 32 bits."""
    map_id = packet_fixture.obj.map_ids["counters"]
    prog_id = packet_fixture.obj.prog_ids["count_packets"]
    for args in (["maps", "dump", str(map_id + 2**32)], ["maps", "show", str(map_id + 2**32)],
                 ["progs", "show", str(prog_id + 2**32)], ["links", "show", str(2**32)],
                 ["maps", "dump", "--", "-1"]):  # fmt: skip
        result = run_phydev("inspect", *args, check=False)
        assert result.returncode == 2 and result.stdout == "", result
        assert "is not in the range 0<=x<=4294967295" in result.stderr
    # Below the CLI, the kernel layer refuses such ids too: never another object.
    for opener, obj_id in ((open_map, map_id), (open_program, prog_id)):
        with pytest.raises(NotFound, match=f"{obj_id + 2**32} not found"):
            opener(obj_id + 2**32)


@pytest.mark.parametrize(
    "args",
    [["about"], ["--version"], ["inspect", "progs", "list"], ["inspect", "progs", "list", "--json"],
     ["inspect", "maps", "list", "--json"], ["inspect", "maps", "dump", "MAP"],
     ["inspect", "maps", "dump", "MAP", "--json"], ["inspect", "progs", "show", "PROG"]],
)  # fmt: skip
def test_closed_stdout_is_one_line_and_status_1(
    packet_fixture: PacketFixture, args: list[str]
) -> None:
    """With stdout closed, --json listings and dumps raised AttributeError and text commands
    exited 0 having printed nothing."""
    ids = {"MAP": str(packet_fixture.obj.map_ids["counters"]),
           "PROG": str(packet_fixture.obj.prog_ids["count_packets"])}  # fmt: skip
    result = run_closed_stdout(*[ids.get(a, a) for a in args])
    assert result.returncode == 1
    assert result.stderr == "phydev: standard output is closed: nothing can be printed\n"


def test_full_stdout_is_one_line_and_status_1(packet_fixture: PacketFixture) -> None:
    map_id = str(packet_fixture.obj.map_ids["counters"])
    for args in (["inspect", "maps", "list"], ["inspect", "maps", "dump", map_id, "--json"]):
        with open("/dev/full", "w") as full:
            result = subprocess.run([PHYDEV, *args], stdout=full, stderr=subprocess.PIPE,
                                    text=True, check=False)  # fmt: skip
        assert result.returncode == 1
        assert result.stderr == (
            "phydev: cannot write to standard output: No space left on device\n"
        )


def test_bpf_dir_before_the_subcommand(packet_fixture: PacketFixture) -> None:
    """`phydev inspect maps --bpf_dir DIR list` is where the Go agent took the flag."""
    pinned = packet_fixture.obj.map_ids["counters"]
    for args in (["maps", "--bpf_dir", packet_fixture.bpf_dir, "list", "--json"],
                 ["maps", "--bpf-dir", packet_fixture.bpf_dir, "list", "--json"],
                 ["links", "--bpf_dir", packet_fixture.bpf_dir, "list", "--json"]):  # fmt: skip
        result = run_phydev("inspect", *args, env={"BPF_DIR": "/nonexistent"})
        assert result.stderr == ""
        rows = json.loads(result.stdout)
        if args[0] == "maps":
            assert [r["isPinned"] for r in rows if r["id"] == pinned] == [True]
    # Given twice, the one after the subcommand wins.
    result = run_phydev("inspect", "maps", "--bpf_dir", "/nonexistent", "list", "--json",
                        "--bpf_dir", packet_fixture.bpf_dir)  # fmt: skip
    assert [r["isPinned"] for r in json.loads(result.stdout) if r["id"] == pinned] == [True]


def test_bpf_dir_that_is_no_bpffs_warns(kernel: None, tmp_path: Path) -> None:
    for path, why in ((tmp_path / "missing", "does not exist"),
                      (tmp_path, "is not on a bpf filesystem")):  # fmt: skip
        result = run_phydev("inspect", "maps", "list", "--bpf_dir", str(path))
        assert (
            result.stderr
            == f"phydev: warning: --bpf_dir {path} {why}"
            + (f" (mount one with: mount -t bpf bpf {path})" if path == tmp_path else "")
            + ": no pins will be found\n"
        )
        assert result.stdout.startswith("ID\tName")
