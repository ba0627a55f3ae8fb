"""The listings' quick path (cli.quick): `phydev inspect progs|maps|links list [--json]`
run without importing click, and print exactly what the click commands print."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PacketFixture, require_kernel, run_phydev
from tests.e2e.conftest import OwnMaps

RUN_MAIN = (
    "import sys\n"
    "sys.argv = ['phydev', *sys.argv[1:]]\n"
    "from devagent.cli import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    print('click' in sys.modules, file=sys.stderr)\n"
)


def quick(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    """(stdout, whether click was imported) of the console script's entry point."""
    done = subprocess.run([sys.executable, "-c", RUN_MAIN, *args], capture_output=True,
                          text=True, check=True, env=env)  # fmt: skip
    return done.stdout, done.stderr.strip().splitlines()[-1]


def through_click(*args: str, env: dict[str, str] | None = None) -> str:
    """The same command through the click group (`python -m devagent` always takes it)."""
    done = subprocess.run([sys.executable, "-m", "devagent", *args], capture_output=True,
                          text=True, check=True, env=env)  # fmt: skip
    return done.stdout


def rows_by_id(output: str, as_json: bool) -> dict[int, object]:
    """A listing's rows by object id (the header line of a text listing under id -1)."""
    if as_json:
        return {row["id"]: row for row in json.loads(output)}
    lines = output.splitlines()
    return {-1: lines[0], **{int(line.split("\t")[0]): line for line in lines[1:]}}


@pytest.mark.parametrize("as_json", [False, True])
def test_maps_and_links_lists_are_the_click_commands_output(
    own_maps: OwnMaps, packet_fixture: PacketFixture, as_json: bool
) -> None:
    """Maps and links do not change while nothing touches them: the two paths print the
    same row for every object both listed (BPF_DIR from the environment, as the click
    option reads it). Other processes may create or remove objects between the two."""
    import os

    require_kernel()
    env = {**os.environ, "BPF_DIR": own_maps.bpf_dir}
    extra = ["--json"] if as_json else []
    for kind in ("maps", "links"):
        ours, imported_click = quick("inspect", kind, "list", *extra, env=env)
        assert imported_click == "False"
        quick_rows = rows_by_id(ours, as_json)
        click_rows = rows_by_id(through_click("inspect", kind, "list", *extra, env=env), as_json)
        both = quick_rows.keys() & click_rows.keys()
        assert all(quick_rows[i] == click_rows[i] for i in both), kind
        if kind == "maps":
            assert set(packet_fixture.obj.map_ids.values()) <= both
    assert "t_hash\tHash\t0\ttrue" in quick("inspect", "maps", "list", env=env)[0]


def test_progs_list_takes_the_quick_path_and_anything_else_click(
    packet_fixture: PacketFixture,
) -> None:
    require_kernel()
    text, imported_click = quick("inspect", "progs", "list")
    assert imported_click == "False"
    assert text.splitlines()[0] == "ID\tName\tType\tTag\tRunCount\tRunTime\tAvgRunTime"
    ids = {int(line.split("\t")[0]) for line in text.splitlines()[1:]}
    assert packet_fixture.obj.prog_ids["count_packets"] in ids
    for args in (["inspect", "progs", "list", "--help"], ["inspect", "maps", "list",
                 "--bpf_dir", "/sys/fs/bpf"], ["inspect", "progs", "show", "1"]):  # fmt: skip
        done = subprocess.run([sys.executable, "-c", RUN_MAIN, *args], capture_output=True,
                              text=True)  # fmt: skip
        assert done.stderr.strip().splitlines()[-1] == "True", args


def test_the_quick_path_keeps_the_error_line_and_status() -> None:
    """Without privileges: the same one line and status 1 as the click command."""
    require_kernel()
    ours = run_phydev("inspect", "progs", "list", check=False, unprivileged="nobody")
    assert ours.returncode == 1
    assert ours.stderr.startswith(
        "phydev: not allowed to read eBPF objects: user nobody (uid 65534) lacks CAP_BPF and "
        "CAP_SYS_ADMIN: run as root"
    )
    assert len(ours.stderr.strip().splitlines()) == 1
