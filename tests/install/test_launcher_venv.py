"""`./phydev` on a venv it made itself: the working tree copied as a fresh clone, its first
`./phydev --version` creates `.venv` (`pip install -e .` from PyPI, no extras), then every
command form of the README's "CLI" section runs through that launcher against the session's
real kernel objects and must answer what the dev venv (`run_phydev`) and bpftool answer.

A launcher that starts Python without the venv's site-packages (`python -S`) once made every
`--json` listing fail with ModuleNotFoundError on a fresh clone while CI, which never ran the
launcher on a venv of its own making, stayed green.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bpftool_json, run_phydev
from tests.install.helpers import (
    INSTALL_TIMEOUT,
    Objects,
    Phydev,
    Server,
    assert_links_match_bpftool,
    assert_maps_match_bpftool,
    assert_progs_match_bpftool,
    assert_same_rows,
    assert_same_show,
    assert_same_table,
    both,
    by_id,
    check_about,
    check_features_json,
    check_links_list_json,
    check_maps_list_json,
    check_progs_list_json,
    check_server,
    copy_worktree,
    dump_entries,
    settled_text,
    sorted_by_key,
)

# The first `./phydev` installs the dependencies from PyPI in the module's setup.
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + 300)


@dataclass
class Clone:
    root: Path
    cli: Phydev
    first: subprocess.CompletedProcess[str]  # the `./phydev --version` that set it up


@pytest.fixture(scope="module")
def clone() -> Iterator[Clone]:
    """The working tree copied to a fresh directory; `./phydev --version` run there once."""
    tmp = Path(tempfile.mkdtemp(prefix="devagent-clone-"))
    try:
        root = copy_worktree(tmp)
        cli = Phydev((str(root / "phydev"),))
        first = cli.run("--version", timeout=INSTALL_TIMEOUT)
        yield Clone(root, cli, first)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_launcher_made_its_own_venv(clone: Clone) -> None:
    """Set up on first use (an editable install of the clone, without extras); then every
    start takes the fast path."""
    assert clone.first.stdout == run_phydev("--version").stdout == "phydev, version 0.1.0\n"
    assert "setting up" in clone.first.stderr
    venv = clone.root / ".venv"
    probe = (
        "import importlib.util as u, devagent, orjson\n"
        "print(devagent.__file__)\n"
        "print(u.find_spec('capstone') is None)\n"
    )
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True,
                         text=True, check=True).stdout.splitlines()  # fmt: skip
    assert Path(out[0]).resolve() == (clone.root / "src" / "devagent" / "__init__.py").resolve()
    assert out[1] == "True"  # no capstone
    again = clone.cli.run("--version")
    assert again.stdout == clone.first.stdout and again.stderr == ""


def test_about(clone: Clone) -> None:
    check_about(clone.cli)


# ---------------------------------------------------------------- inspect progs


def test_progs_list_json(clone: Clone, objs: Objects) -> None:
    check_progs_list_json(clone.cli, objs)


def test_progs_list_text(clone: Clone, objs: Objects) -> None:
    ours, ref = both(clone.cli, "inspect", "progs", "list")
    rows = assert_same_table(ours, ref, objs.frozen_prog_ids, objs.moving_prog_ids, static=4)
    listed = by_id(json.loads(run_phydev("inspect", "progs", "list", "--json").stdout))
    for prog_id in objs.frozen_prog_ids | objs.moving_prog_ids:
        row = listed[prog_id]
        assert rows[prog_id][:4] == [str(prog_id), row["name"], row["type"], row["tag"]]


# Where --bpf_dir comes from, for a command that takes it after its own name.
BPF_DIR_FORMS = ["none", "--bpf_dir", "--bpf-dir", "BPF_DIR"]


def bpf_dir_args(form: str, bpf_dir: str) -> tuple[tuple[str, ...], dict[str, str] | None]:
    if form == "none":
        return (), None
    if form == "BPF_DIR":
        return (), {"BPF_DIR": bpf_dir}
    return (form, bpf_dir), None


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("form", BPF_DIR_FORMS)
def test_progs_show(clone: Clone, objs: Objects, form: str, as_json: bool) -> None:
    prog_id = objs.frozen.obj.prog_ids["count_packets"]
    args, env = bpf_dir_args(form, objs.frozen_dir)
    argv = ("inspect", "progs", "show", str(prog_id), *args, *(("--json",) if as_json else ()))
    ours, ref = both(clone.cli, *argv, env=env)
    pins = [] if form == "none" else [objs.frozen.obj.prog_pin("count_packets")]
    assert_same_show(ours, ref, as_json=as_json)
    if not as_json:
        assert ["id", str(prog_id)] in [line.split() for line in ours.splitlines()]
        return
    mine = json.loads(ours)
    assert_progs_match_bpftool([mine], {prog_id})
    assert (mine["pins"], mine["isPinned"]) == (pins, bool(pins))
    assert {m["name"] for m in mine["maps"]} >= {"AT_pkts", "flows", "counters"}


DUMP_FORMS = [
    (),
    ("xlated",),
    ("xlated", "--opcodes"),
    ("--linum",),
    ("--json",),
    ("xlated", "--opcodes", "--linum", "--json"),
]


@pytest.mark.parametrize("form", DUMP_FORMS, ids=[" ".join(f) or "default" for f in DUMP_FORMS])
def test_progs_dump_xlated(clone: Clone, objs: Objects, form: tuple[str, ...]) -> None:
    """The translated instructions of a program with subprograms, global variables, a tail
    call and map references, as the dev venv prints them, byte for byte."""
    prog_id = str(objs.inspect.prog_id("inspect_socket_filter_with_a_long_name"))
    ours, ref = both(clone.cli, "inspect", "progs", "dump", prog_id, *form)
    assert ours == ref
    if "--json" in form:
        insns = json.loads(ours)
        assert len(insns) > 20 and any("map" in i for i in insns)
    else:
        assert "int inspect_socket_filter_with_a_long_name(struct __sk_buff * skb):" in ours
        assert ours.count(": (") > 20


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_progs_dump_jited_needs_capstone(clone: Clone, objs: Objects, as_json: bool) -> None:
    """The launcher's venv has no capstone (`pip install -e .`, no extras): one clear line
    and status 1, as the README says. The dev venv (with the dev extras) disassembles."""
    prog_id = str(objs.inspect.prog_id("inspect_xdp"))
    argv = ("inspect", "progs", "dump", prog_id, "jited", *(("--json",) if as_json else ()))
    ours = clone.cli.run(*argv, check=False)
    assert ours.returncode == 1, ours
    assert ours.stdout == ""
    assert ours.stderr.count("\n") == 1 and ours.stderr.startswith("phydev: "), ours.stderr
    assert "needs capstone" in ours.stderr and "pip install 'devagent[jit]'" in ours.stderr
    dev = run_phydev(*argv).stdout
    if as_json:
        functions = json.loads(dev)
        assert functions[0]["name"].endswith("inspect_xdp") and functions[0]["insns"]
    else:
        assert "int inspect_xdp(struct xdp_md * ctx):" in dev


def udp_packet() -> bytes:
    """An Ethernet + IPv4 + UDP packet, 127.0.0.1:1234 -> 127.0.0.1:9."""
    udp = struct.pack("!HHHH", 1234, 9, 16, 0) + b"launcher"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


RUN_FORMS = [
    ("--data-in", "FILE"),
    ("--data-in", "FILE", "--repeat", "5"),
    ("--data-in", "FILE", "--json"),
    ("--data-in", "-", "--repeat", "3", "--json"),
]


@pytest.mark.parametrize("form", RUN_FORMS, ids=[" ".join(f) for f in RUN_FORMS])
def test_progs_run(clone: Clone, objs: Objects, form: tuple[str, ...]) -> None:
    """inspect_xdp (writes no map) run on a packet: the return value and the packet it
    leaves are the dev venv's and bpftool's."""
    packet = clone.root.parent / "packet.bin"  # beside the clone: removed with it
    packet.write_bytes(udp_packet())
    prog_id = str(objs.inspect.prog_id("inspect_xdp"))
    args = [str(packet) if a == "FILE" else a for a in form]
    stdin = udp_packet() if "-" in form else None
    ours = clone.cli.run("inspect", "progs", "run", prog_id, *args, input=stdin).stdout
    # The dev venv reads the same packet from the file.
    ref_args = [str(packet) if a == "-" else a for a in args]
    ref = run_phydev("inspect", "progs", "run", prog_id, *ref_args).stdout
    out = clone.root.parent / "out.bin"
    kernel = bpftool_json("prog", "run", "id", prog_id, "data_in", str(packet),
                          "data_out", str(out))  # fmt: skip
    assert isinstance(kernel, dict)
    if "--json" in form:
        mine, theirs = json.loads(ours), json.loads(ref)
        assert (mine["retval"], mine["dataOut"]) == (theirs["retval"], theirs["dataOut"])
        assert (mine["retval"] % (1 << 32), bytes.fromhex(mine["dataOut"])) == (
            kernel["retval"], out.read_bytes(),
        )  # fmt: skip
        assert isinstance(mine["durationNs"], int) and mine["durationNs"] >= 0
    else:
        assert settled_text(ours, "durationNs") == settled_text(ref, "durationNs")
        fields = dict(line.split(None, 1) for line in ours.splitlines())
        assert (int(fields["retval"]) % (1 << 32), fields["dataOut"]) == (
            kernel["retval"], out.read_bytes().hex(),
        )  # fmt: skip
        assert int(fields["durationNs"]) >= 0


# ---------------------------------------------------------------- inspect maps

# Where --bpf_dir goes in `inspect maps ... list` (before the subcommand, as the Go agent
# took it, or after), and BPF_DIR.
MAPS_LIST_FORMS: dict[str, tuple[tuple[str, ...], bool]] = {
    "list": (("list",), False),
    "list --bpf_dir": (("list", "--bpf_dir", "DIR"), True),
    "list --bpf-dir": (("list", "--bpf-dir", "DIR"), True),
    "--bpf_dir list": (("--bpf_dir", "DIR", "list"), True),
    "--bpf-dir list": (("--bpf-dir", "DIR", "list"), True),
    "BPF_DIR= list": (("list",), True),
}


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("form", list(MAPS_LIST_FORMS))
def test_maps_list(clone: Clone, objs: Objects, form: str, as_json: bool) -> None:
    template, pinned = MAPS_LIST_FORMS[form]
    bpf_dir = objs.frozen_dir if pinned else None
    args = tuple(objs.frozen_dir if a == "DIR" else a for a in template)
    env = {"BPF_DIR": objs.frozen_dir} if form.startswith("BPF_DIR") else None
    if as_json:
        check_maps_list_json(clone.cli, objs, args, env, bpf_dir)
        return
    ours, ref = both(clone.cli, "inspect", "maps", *args, env=env)
    rows = assert_same_table(ours, ref, objs.map_ids)
    pins = objs.map_pins(bpf_dir)
    for map_id in objs.map_ids:
        assert rows[map_id][4] == ("true" if pins[map_id] else "false")
    at_pkts = rows[objs.frozen.at_map_id]
    assert at_pkts[1:3] == ["AT_pkts", "PerCPUHash"] and at_pkts[5:] == ["16", "8", "64"]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("form", BPF_DIR_FORMS)
def test_maps_show(clone: Clone, objs: Objects, form: str, as_json: bool) -> None:
    map_id = objs.frozen.at_map_id
    args, env = bpf_dir_args(form, objs.frozen_dir)
    argv = ("inspect", "maps", "show", str(map_id), *args, *(("--json",) if as_json else ()))
    ours, ref = both(clone.cli, *argv, env=env)
    assert_same_show(ours, ref, as_json=as_json)
    if as_json:
        mine = json.loads(ours)
        pins = objs.map_pins(None if form == "none" else objs.frozen_dir)
        assert_maps_match_bpftool([mine], {map_id}, pins)
        prog_id = objs.frozen.obj.prog_ids["count_packets"]
        program = {"id": prog_id, "name": "count_packets", "type": "SocketFilter"}
        assert mine["programs"] == [program]


DUMP_FORMATS = [None, "hex", "string", "number", "btf"]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("fmt", DUMP_FORMATS, ids=[f or "default" for f in DUMP_FORMATS])
def test_maps_dump(clone: Clone, objs: Objects, fmt: str | None, as_json: bool) -> None:
    """The frozen AT_pkts (per-CPU hash, string keys: ipv4 and ipv6 packet counts): what the
    dev venv prints, and in JSON what bpftool reads (hex cells, or its "formatted")."""
    map_id = objs.frozen.at_map_id
    argv = ("inspect", "maps", "dump", str(map_id), *(("--format", fmt) if fmt else ()),
            *(("--json",) if as_json else ()))  # fmt: skip
    ours, ref = both(clone.cli, *argv)
    assert ours == ref
    if not as_json and fmt in (None, "btf"):  # BTF by default: one JSON object per line
        entries = [json.loads(line) for line in ours.splitlines()]
        assert sorted_by_key(entries) == dump_entries(map_id, "btf")
        return
    if not as_json:
        header, *rows = ours.splitlines()
        assert header.split("\t")[:2] == ["Key", "CPU0"] and len(rows) == 2
        if fmt == "string":
            assert sorted(r.split("\t")[0] for r in rows) == ["ipv4", "ipv6"]
        return
    entries = json.loads(ours)
    if fmt in (None, "hex", "btf"):
        assert sorted_by_key(entries) == dump_entries(map_id, fmt or "hex")
    if fmt == "number":
        per_key = {e["key"]: sum(int(v["value"]) for v in e["values"]) for e in entries}
        assert len(per_key) == 2 and all(n > 0 for n in per_key.values())


@pytest.mark.parametrize("fmt", ["hex", "btf"])
def test_maps_dump_struct_keys(clone: Clone, objs: Objects, fmt: str) -> None:
    """The frozen `flows` (hash, struct keys and values) equals bpftool's dump."""
    map_id = objs.frozen.obj.map_ids["flows"]
    argv = ("inspect", "maps", "dump", str(map_id), "--format", fmt, "--json")
    ours, ref = both(clone.cli, *argv)
    assert ours == ref
    assert sorted_by_key(json.loads(ours)) == dump_entries(map_id, fmt)


# ---------------------------------------------------------------- inspect links


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("form", BPF_DIR_FORMS)
def test_links_list(clone: Clone, objs: Objects, form: str, as_json: bool) -> None:
    args, env = bpf_dir_args(form, objs.packet.bpf_dir)
    bpf_dir = None if form == "none" else objs.packet.bpf_dir
    if as_json and env is None:
        check_links_list_json(clone.cli, objs, *args, bpf_dir=bpf_dir)
        return
    argv = ("inspect", "links", "list", *args, *(("--json",) if as_json else ()))
    ours, ref = both(clone.cli, *argv, env=env)
    if as_json:
        assert_same_rows(json.loads(ours), json.loads(ref), objs.link_ids)
        assert_links_match_bpftool(json.loads(ours), objs, bpf_dir)
        return
    rows = assert_same_table(ours, ref, objs.link_ids)
    xdp = rows[objs.links.xdp_link_id]
    assert xdp[1:3] == ["XDP", str(objs.packet.obj.prog_ids["xdp_pass"])]
    assert f"devname={objs.links.devname}" in xdp[3]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("form", BPF_DIR_FORMS)
def test_links_show(clone: Clone, objs: Objects, form: str, as_json: bool) -> None:
    """The XDP link (pinned in the packet fixture's mount) and the cgroup link (held by this
    test process's fd, so this process is among its owners)."""
    args, env = bpf_dir_args(form, objs.packet.bpf_dir)
    shown = {}
    for link_id in objs.link_ids:
        argv = ("inspect", "links", "show", str(link_id), *args,
                *(("--json",) if as_json else ()))  # fmt: skip
        ours, ref = both(clone.cli, *argv, env=env)
        assert_same_show(ours, ref, as_json=as_json)
        shown[link_id] = ours
    cgroup_link = shown[objs.links.cgroup_link_id]
    if not as_json:
        assert f"pid={os.getpid()} " in cgroup_link
        lines = [line.split() for line in cgroup_link.splitlines()]
        assert ["cgroupPath", objs.links.cgroup_path] in lines
        return
    bpf_dir = None if form == "none" else objs.packet.bpf_dir
    xdp, cgroup = json.loads(shown[objs.links.xdp_link_id]), json.loads(cgroup_link)
    assert_links_match_bpftool([xdp, cgroup], objs, bpf_dir)
    kernel = bpftool_json("link", "show", "id", str(objs.links.cgroup_link_id))
    assert isinstance(kernel, dict)
    assert cgroup["cgroup_id"] == kernel["cgroup_id"]
    assert cgroup["cgroupPath"] == objs.links.cgroup_path
    assert os.getpid() in {o["pid"] for o in cgroup["owners"]}


# ---------------------------------------------------------------- inspect features, top


@pytest.mark.parametrize("bpf_dir", [False, True], ids=["default-dir", "bpf_dir"])
def test_features(clone: Clone, objs: Objects, bpf_dir: bool) -> None:
    args = ("--bpf_dir", objs.frozen_dir) if bpf_dir else ()
    rows = check_features_json(clone.cli, *args)
    text, ref = both(clone.cli, "inspect", "features", *args)
    assert text == ref
    lines = text.splitlines()
    assert lines[0] == "Feature\tStatus\tSince\tDetail" and len(lines) == len(rows) + 1
    bpffs = next(r for r in rows if r["name"] == "bpffs")
    if bpf_dir:
        assert objs.frozen_dir in bpffs["detail"] and bpffs["status"] == "works"


TOP_FORMS = [
    ("--count", "1", "--json"),
    ("--count", "1", "--json", "--interval", "0.2", "--no-program-iterator"),
    ("--count", "1", "--json", "--interval", "0.2", "--no-enable-stats"),
    ("--count", "1", "--interval", "0.2"),  # JSON Lines too: stdout is not a terminal
]


def top_frozen(stdout: str, objs: Objects) -> dict[int, dict[str, Any]]:
    """The one JSON line of `top --count 1`, checked; the frozen programs' rows."""
    (line,) = stdout.splitlines()
    frame = json.loads(line)
    assert set(frame) == {"time", "interval", "programs", "total"}
    assert set(frame["total"]) == {"cpuPercent", "eventsPerSecond"}
    rows = by_id(frame["programs"])
    return {prog_id: rows[prog_id] for prog_id in objs.frozen_prog_ids}


@pytest.mark.parametrize("form", TOP_FORMS, ids=[" ".join(f) for f in TOP_FORMS])
def test_top(clone: Clone, objs: Objects, form: tuple[str, ...]) -> None:
    """The frozen programs do not run: 0 events/s and 0 % CPU, as the dev venv says."""
    out, ref = both(clone.cli, "top", *form, side_by_side=True)
    ours = top_frozen(out, objs)
    assert ours == top_frozen(ref, objs)
    count_packets = ours[objs.frozen.obj.prog_ids["count_packets"]]
    assert count_packets == {
        "id": objs.frozen.obj.prog_ids["count_packets"], "name": "count_packets",
        "type": "SocketFilter", "eventsPerSecond": 0.0, "avgRunTimeNs": None,
        "cpuPercent": 0.0, "recursionMissesPerSecond": 0.0, "agentOwn": False,
        "attachPoint": None,
    }  # fmt: skip


# ---------------------------------------------------------------- server


def test_server(clone: Clone, objs: Objects) -> None:
    """`./phydev server` of the clone, PORT from the environment: /healthz, the explorer's
    Navigation query, /metrics, the web UI and its static files; `top --agent` reads it."""
    with Server(clone.cli, bpf_dir=objs.frozen_dir) as server:
        server.wait_ready()
        check_server(server, objs)
        remote = clone.cli.run("top", "--count", "1", "--json", "--interval", "0.2",
                               "--agent", server.url).stdout  # fmt: skip
        ours = top_frozen(remote, objs)
        assert {p["name"] for p in ours.values()} == set(objs.frozen.obj.prog_ids)
        assert all(p["eventsPerSecond"] == 0 for p in ours.values())
        assert server.stop() == 0, server.output
    assert f"serving on http://127.0.0.1:{server.port}/" in server.output
