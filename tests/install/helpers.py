"""What the install tests share: a copy of the working tree as a fresh clone, a `phydev` of
some install run as a user would start it, its answers compared with the dev venv's
(`run_phydev`) and bpftool's for the session fixtures' own objects, and a `phydev server` of
that install on 127.0.0.1.

Host-wide listings change while other processes create and remove objects, so only the
fixtures' own objects are compared: exactly where nothing moves (the frozen copy of the
fixture, every map's and link's geometry), and without the counters that move with every run
(runCount, runTime, ...) for the programs that traffic or a test run reaches.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import (
    ROOT,
    FrozenCounters,
    InspectFixture,
    LinkFixture,
    PacketFixture,
    bpftool_json,
    free_port,
    run_phydev,
)
from tests.kernel.test_inspect import MAP_TYPE, PROG_TYPE

# A first `./phydev` or `pip install` fetches the dependencies from PyPI (pip's own cache is
# left on, so later runs are faster): give it time.
INSTALL_TIMEOUT = 600.0
# Counters that move with every run of a program (traffic, a test run).
MOVING = frozenset({"runCount", "runTime", "avgRunTime", "recursionMisses"})
# Each process puts the kernel's boot-time load stamp on the wall clock with two clock reads
# of its own, so two processes may differ in the last microsecond.
CLOCK_SLACK_S = 0.001
# What a user who just cloned the repository does not have: the dev venv on PATH, the test
# run's venv or Python path, agent settings of whoever runs the tests.
NOT_INHERITED = (
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHON", "BPF_DIR", "PORT",
    "DEVAGENT_AUTH_TOKEN", "DEVAGENT_HOST_ROOT",
)  # fmt: skip
# The explorer's poll (tests/e2e/test_graphql_server.py).
NAVIGATION = """query Navigation {
  programs { id error name type tag runTime runCount btfId }
  maps { id error name type flags isPinned keySize valueSize maxEntries }
}"""
STATIC = ROOT / "src" / "devagent" / "web" / "static"


def copy_worktree(dest: Path) -> Path:
    """The repository as `git ls-files -co --exclude-standard` lists it (tracked files with
    their uncommitted changes, plus new files not ignored: no .venv, .cache or build output),
    copied to dest/clone with file modes kept (the launcher stays executable)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    clone = dest / "clone"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not os.path.lexists(source) or source.is_dir():
            continue  # deleted in the working tree, or a submodule
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    assert os.access(clone / "phydev", os.X_OK), "the launcher lost its x bit"
    assert not (clone / ".venv").exists()
    return clone


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus NOT_INHERITED and minus the dev venv's bin directory on PATH,
    plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    dev_bin = os.path.realpath(Path(sys.executable).parent)
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    env["PATH"] = os.pathsep.join(p for p in path if os.path.realpath(p) != dev_bin)
    return {**env, **(extra or {})}


@dataclass(frozen=True)
class Phydev:
    """One way to start the CLI of one install: the launcher of a clone, a venv's console
    script, `python -m devagent`."""

    argv: tuple[str, ...]

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        input: bytes | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.argv, *args], capture_output=True, env=clean_env(env), input=input,
            timeout=timeout,
        )  # fmt: skip
        result = subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )
        what = " ".join([*self.argv, *args])
        assert "Traceback" not in result.stderr, f"{what}:\n{result.stderr}"
        if check:
            assert result.returncode == 0, f"{what} exited {result.returncode}:\n{result.stderr}"
        return result


def both(
    cli: Phydev, *args: str, env: dict[str, str] | None = None, side_by_side: bool = False
) -> tuple[str, str]:
    """stdout of the same command from `cli` and from the dev venv (`run_phydev`). One after
    the other, unless side_by_side (`top`: half the wait): a phydev reading an object holds an
    fd to it, so the other one would list it among the object's owners."""
    if not side_by_side:
        return cli.run(*args, env=env).stdout, run_phydev(*args, env=env).stdout
    with ThreadPoolExecutor(1) as pool:
        ref = pool.submit(run_phydev, *args, env=env)
        ours = cli.run(*args, env=env).stdout
        return ours, ref.result().stdout


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def settled(details: dict[str, Any]) -> dict[str, Any]:
    """A `show --json` answer without the owners that have exited since: any process that
    read the object at that moment (another phydev, bpftool: they hold an fd while reading)."""
    return {**details, "owners": [o for o in details["owners"] if alive(o["pid"])]}


OWNER_LINE = re.compile(r"^(?:owners)?\s+(pid=(\d+) .*)$")


def settled_text(text: str, skip: str = "") -> tuple[list[str], list[str]]:
    """A `show` text answer as (its lines but the owners and the `skip` line, the owners
    still alive)."""
    lines, owners = [], []
    for line in text.splitlines():
        found = OWNER_LINE.match(line)
        if found is not None:
            if alive(int(found.group(2))):
                owners.append(found.group(1))
        elif line.split() != ["owners", "-"] and line.split(None, 1)[:1] != [skip]:
            lines.append(line)
    return lines, sorted(owners)


@dataclass
class Objects:
    """The session fixtures' own kernel objects."""

    packet: PacketFixture
    links: LinkFixture
    inspect: InspectFixture
    frozen: FrozenCounters

    @property
    def frozen_prog_ids(self) -> set[int]:
        """Programs that never run again: the frozen copy's (detached, never test-run)."""
        return set(self.frozen.obj.prog_ids.values())

    @property
    def moving_prog_ids(self) -> set[int]:
        """Programs whose counters traffic (attached to lo, the root cgroup) or a test run
        moves."""
        return set(self.packet.obj.prog_ids.values()) | set(self.inspect.obj.prog_ids.values())

    @property
    def map_ids(self) -> set[int]:
        return {
            *self.packet.obj.map_ids.values(),
            *self.inspect.obj.map_ids.values(),
            *self.frozen.obj.map_ids.values(),
        }

    @property
    def link_ids(self) -> set[int]:
        return {self.links.xdp_link_id, self.links.cgroup_link_id}

    @property
    def frozen_dir(self) -> str:
        return str(self.frozen.mount.path)

    def map_pins(self, bpf_dir: str | None) -> dict[int, list[str]]:
        """Each own map's pins as seen with --bpf_dir bpf_dir (none outside its mount)."""
        pins: dict[int, list[str]] = {}
        for fixture in (self.packet, self.inspect, self.frozen):
            inside = bpf_dir == str(fixture.mount.path)
            for name, map_id in fixture.obj.map_ids.items():
                pins[map_id] = [fixture.obj.map_pin(name)] if inside else []
        return pins


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(row["id"]): row for row in rows}


def loaded_at(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def assert_same_object(ours: dict[str, Any], ref: dict[str, Any], *, frozen: bool) -> None:
    """ours == ref, but loadedAt within CLOCK_SLACK_S and, unless frozen, without MOVING."""
    skip = {"loadedAt"} | (set() if frozen else MOVING)
    assert {k: v for k, v in ours.items() if k not in skip} == {
        k: v for k, v in ref.items() if k not in skip
    }
    assert ("loadedAt" in ours) == ("loadedAt" in ref)
    if "loadedAt" in ours:
        assert abs(loaded_at(ours["loadedAt"]) - loaded_at(ref["loadedAt"])) <= CLOCK_SLACK_S


def assert_same_rows(
    ours: list[dict[str, Any]],
    ref: list[dict[str, Any]],
    frozen: AbstractSet[int],
    moving: AbstractSet[int] = frozenset(),
) -> None:
    """The listing `ours` holds each of the ids, with the dev venv's values."""
    mine, theirs = by_id(ours), by_id(ref)
    missing = (set(frozen) | set(moving)) - set(mine)
    assert not missing, f"own objects missing: {missing}"
    for obj_id in frozen:
        assert_same_object(mine[obj_id], theirs[obj_id], frozen=True)
    for obj_id in moving:
        assert_same_object(mine[obj_id], theirs[obj_id], frozen=False)


def assert_same_show(ours: str, ref: str, *, as_json: bool) -> None:
    """Two answers of a `show` command: the same but for the clock's last microsecond and the
    owners that were only reading it for a moment (see `settled`)."""
    if as_json:
        assert_same_object(settled(json.loads(ours)), settled(json.loads(ref)), frozen=True)
    else:
        assert settled_text(ours, "loadedAt") == settled_text(ref, "loadedAt")


def table_rows(stdout: str) -> tuple[list[str], dict[int, list[str]]]:
    """(header, cells by id) of a tab-separated listing."""
    header, *lines = stdout.rstrip("\n").split("\n")
    rows = {int(cells[0]): cells for cells in (line.split("\t") for line in lines)}
    return header.split("\t"), rows


def assert_same_table(
    ours: str,
    ref: str,
    frozen: AbstractSet[int],
    moving: AbstractSet[int] = frozenset(),
    static: int = 0,
) -> dict[int, list[str]]:
    """The text listing `ours` has the dev venv's header, its rows for the frozen ids, and
    its first `static` cells for the moving ids. Returns our rows."""
    head, mine = table_rows(ours)
    ref_head, theirs = table_rows(ref)
    assert head == ref_head
    for obj_id in frozen:
        assert mine[obj_id] == theirs[obj_id]
    for obj_id in moving:
        assert mine[obj_id][:static] == theirs[obj_id][:static]
    return mine


# ---------------------------------------------------------------- bpftool's view


def assert_progs_match_bpftool(rows: list[dict[str, Any]], prog_ids: set[int]) -> None:
    """id, name, full name, type, tag, sizes and maps as bpftool shows each program."""
    mine = by_id(rows)
    for prog_id in prog_ids:
        ref = bpftool_json("prog", "show", "id", str(prog_id))
        assert isinstance(ref, dict)
        row = mine[prog_id]
        assert row["name"] == ref["name"][:15] and row["fullName"] == ref["name"]
        assert (row["type"], row["tag"]) == (PROG_TYPE[ref["type"]], ref["tag"])
        assert (row["xlatedSize"], row["jitedSize"]) == (ref["bytes_xlated"], ref["bytes_jited"])
        assert row["mapIds"] == ref.get("map_ids", [])


def assert_maps_match_bpftool(
    rows: list[dict[str, Any]], map_ids: set[int], pins: dict[int, list[str]]
) -> None:
    """name, type, geometry and flags as bpftool shows each map; pins as the fixtures made."""
    mine = by_id(rows)
    for map_id in map_ids:
        ref = bpftool_json("map", "show", "id", str(map_id))
        assert isinstance(ref, dict)
        row = mine[map_id]
        assert (row["name"], row["type"], row["flags"]) == (
            ref["name"], MAP_TYPE[ref["type"]], ref["flags"],
        )  # fmt: skip
        assert (row["keySize"], row["valueSize"], row["maxEntries"]) == (
            ref["bytes_key"], ref["bytes_value"], ref["max_entries"],
        )  # fmt: skip
        assert (row["pins"], row["isPinned"]) == (pins[map_id], bool(pins[map_id]))


def assert_links_match_bpftool(
    rows: list[dict[str, Any]], objs: Objects, bpf_dir: str | None
) -> None:
    """The XDP and cgroup links of link_fixture: type and program as bpftool shows them,
    the XDP link's pin when --bpf_dir is the mount it is pinned in."""
    mine = by_id(rows)
    for link_id, kind in ((objs.links.xdp_link_id, "XDP"), (objs.links.cgroup_link_id, "Cgroup")):
        ref = bpftool_json("link", "show", "id", str(link_id))
        assert isinstance(ref, dict)
        assert (mine[link_id]["type"], mine[link_id]["programId"]) == (kind, ref["prog_id"])
    xdp = mine[objs.links.xdp_link_id]
    assert xdp["devname"] == objs.links.devname
    pinned = bpf_dir == objs.packet.bpf_dir
    assert xdp["pins"] == ([objs.links.xdp_pin] if pinned else [])


def dump_entries(map_id: int, fmt: str) -> list[Any]:
    """bpftool's dump of a map as `phydev inspect maps dump --json` prints it in `fmt`
    (hex: the bytes as one lowercase hex string; btf: bpftool's "formatted"), in key order."""
    ref = bpftool_json("map", "dump", "id", str(map_id))
    assert isinstance(ref, list) and ref

    def hexed(cells: list[str]) -> str:
        return bytes(int(c, 16) for c in cells).hex()

    entries: list[Any] = []
    for entry in ref:
        if fmt == "btf":
            entries.append(entry["formatted"])
        elif "values" in entry:
            values = [{"cpu": v["cpu"], "value": hexed(v["value"])} for v in entry["values"]]
            entries.append({"key": hexed(entry["key"]), "values": values})
        else:
            entries.append({"key": hexed(entry["key"]), "value": hexed(entry["value"])})
    return sorted(entries, key=lambda e: json.dumps(e["key"]))


def sorted_by_key(entries: list[Any]) -> list[Any]:
    return sorted(entries, key=lambda e: json.dumps(e["key"]))


# ---------------------------------------------------------------- checks shared by installs


def check_progs_list_json(cli: Phydev, objs: Objects) -> None:
    out, ref_out = both(cli, "inspect", "progs", "list", "--json")
    ours, ref = json.loads(out), json.loads(ref_out)
    assert_same_rows(ours, ref, objs.frozen_prog_ids, objs.moving_prog_ids)
    assert_progs_match_bpftool(ours, objs.frozen_prog_ids | objs.moving_prog_ids)
    frozen = by_id(ours)[objs.frozen.obj.prog_ids["count_packets"]]
    assert frozen["runCount"] > 0 and frozen["runTime"] > 0  # counted real packets once


def check_maps_list_json(
    cli: Phydev, objs: Objects, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
    bpf_dir: str | None = None,
) -> None:  # fmt: skip
    """`inspect maps ... list --json` (args say where --bpf_dir goes, if anywhere)."""
    argv = ("inspect", "maps", *args) if args else ("inspect", "maps", "list")
    ours, ref = (json.loads(out) for out in both(cli, *argv, "--json", env=env))
    assert_same_rows(ours, ref, objs.map_ids)  # a map's row never moves
    assert_maps_match_bpftool(ours, objs.map_ids, objs.map_pins(bpf_dir))


def check_links_list_json(cli: Phydev, objs: Objects, *args: str, bpf_dir: str | None) -> None:
    ours, ref = (json.loads(out) for out in both(cli, "inspect", "links", "list", *args, "--json"))
    assert_same_rows(ours, ref, objs.link_ids)
    assert_links_match_bpftool(ours, objs, bpf_dir)


def check_features_json(cli: Phydev, *args: str) -> list[dict[str, Any]]:
    ours, ref = (json.loads(out) for out in both(cli, "inspect", "features", *args, "--json"))
    assert ours == ref
    statuses = {row["name"]: row["status"] for row in ours}
    assert statuses["bpf_syscall"] == statuses["links"] == "works"
    return ours  # type: ignore[no-any-return]


def check_about(cli: Phydev) -> None:
    out, ref = both(cli, "about")
    assert out == ref and out.startswith("phydev (dev-agent for Python)")


# ---------------------------------------------------------------- a server of one install


class Server:
    """`phydev server` of one install on 127.0.0.1 (port from PORT), stopped by its PID."""

    def __init__(self, cli: Phydev, *args: str, bpf_dir: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: nobody reads while it runs.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [*cli.argv, "server", "--listen", "127.0.0.1", "--skip-welcome",
             "--bpf_dir", bpf_dir, *args],
            env=clean_env({"PORT": str(self.port)}), stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.output = ""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited {self.proc.returncode}: {self.read()}"
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout}s: {self.read()}")

    def get(self, path: str) -> tuple[bytes, str]:
        """(body, content type) of GET path, which must answer 200."""
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            assert resp.status == 200, path
            return resp.read(), resp.headers.get("Content-Type", "")

    def query(self, query: str) -> dict[str, Any]:
        body = json.dumps({"query": query}).encode()
        req = urllib.request.Request(
            self.url + "/query", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer: dict[str, Any] = json.load(resp)
        assert "errors" not in answer, answer
        return answer["data"]  # type: ignore[no-any-return]

    def read(self) -> str:
        if self.log.closed:
            return self.output
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> int:
        """SIGTERM to its PID (SIGKILL after 10 s); its exit status. Idempotent."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(5)
        if not self.log.closed:
            self.output = self.read()
            self.log.close()
        return self.proc.returncode


def static_assets(html: str) -> list[str]:
    """The versioned static URLs a page loads (`/static/DIGEST/rel/path`)."""
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def check_server(server: Server, objs: Objects) -> None:
    """/healthz, the explorer's Navigation query, /metrics and the web UI of a server whose
    --bpf_dir is the frozen copy's mount, against the dev venv's listing and bpftool."""
    assert server.get("/healthz")[0] == b"ok\n"

    data = server.query(NAVIGATION)
    progs, maps = by_id(data["programs"]), by_id(data["maps"])
    listed = by_id(json.loads(run_phydev("inspect", "progs", "list", "--json").stdout))
    for prog_id in objs.frozen_prog_ids:
        row = listed[prog_id]
        fields = ("id", "name", "type", "tag", "runTime", "runCount", "btfId")
        assert progs[prog_id] == {"error": None, **{k: row[k] for k in fields}}
    for name, map_id in objs.frozen.obj.map_ids.items():
        ref = bpftool_json("map", "show", "id", str(map_id))
        assert isinstance(ref, dict)
        assert maps[map_id]["name"] == ref["name"] and maps[map_id]["isPinned"] is True, name
        assert maps[map_id]["maxEntries"] == ref["max_entries"]

    metrics = server.get("/metrics")[0].decode()
    prog_id = objs.frozen.obj.prog_ids["count_packets"]
    kernel = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(kernel, dict)
    labels = {"id": str(prog_id), "name": "count_packets", "tag": kernel["tag"],
              "type": "SocketFilter"}  # fmt: skip
    runs = [
        s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "devagent_ebpf_prog_run_count" and s.labels == labels
    ]
    assert runs == [kernel["run_cnt"]] and kernel["run_cnt"] > 0

    page, kind = server.get("/ui/")
    assert kind.startswith("text/html") and b'"ui": "/ui/"' in page
    check_assets(server, page.decode())


def check_assets(server: Server, html: str) -> None:
    """Every static file the page loads is served, byte for byte the working tree's file."""
    urls = static_assets(html)
    assert urls, "the page loads no static file"
    for url in urls:
        body, _ = server.get(url)
        rel = url.split("/", 3)[3]
        assert body == (STATIC / rel).read_bytes(), url


def served_file(server: Server, html: str, rel: str) -> bytes:
    """GET the static file `rel` under the digest the page uses."""
    digest = static_assets(html)[0].split("/")[2]
    return server.get(f"/static/{digest}/{rel}")[0]
