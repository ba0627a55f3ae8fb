"""Issue 22 item 3's acceptance against a real server and CLI: the bpftrace AT_SYSCALLNUM map
sorted by its per-CPU sum (GraphQL `entries(sortBy:, top:, keySearch:)`, `inspect maps dump
--sort sum --top 5`), equal to the order computed from bpftool's raw dump of the same map; a
BTF struct map sorted by a field, edited field by field through updateMapValue and exported
field by field by `--etm ...:btf`.

bpftrace counts only the syscalls of one child process of ours (`/pid == N/`), which makes a
known mix of syscalls and then blocks in one read(): the map stops moving, so the agent's
answer and bpftool's dump can be compared for equality while other tests run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devagent.bpf.maps import MapHandle, possible_cpus
from devagent.bpf.objects import get_map
from tests.conftest import (
    REQUIRE_KERNEL,
    BpffsMount,
    LoadedObject,
    PhydevServer,
    bpftool_json,
    build_bpf,
    load_object,
    require_kernel,
    run_phydev,
)
from tests.e2e.test_graphql_server import data

# The child's syscalls: getppid 3000 times, getuid 2000, getgid 1000, umask 500.
CHILD = """
import os, sys
sys.stdin.readline()
for n, call in ((3000, os.getppid), (2000, os.getuid), (1000, os.getgid)):
    for _ in range(n):
        call()
for _ in range(500):
    os.umask(0o22)
print("done", flush=True)
sys.stdin.readline()
"""
SYSCALLS = {110: 3000, 102: 2000, 104: 1000, 95: 500}  # x86_64 numbers: getppid, getuid, ...


@dataclass
class Syscalls:
    map_id: int
    child_pid: int


def _bpftrace() -> str:
    tool = shutil.which("bpftrace")
    if tool is None:
        if REQUIRE_KERNEL:
            pytest.fail("DEVAGENT_REQUIRE_KERNEL=1 but bpftrace is not installed")
        pytest.skip("bpftrace is not installed (apt-get install bpftrace)")
    return tool


def _mount_tracefs() -> None:
    """bpftrace's tracepoints need tracefs; it stays mounted (others may use it too)."""
    if not Path("/sys/kernel/tracing/events").is_dir():
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                       check=False, capture_output=True)  # fmt: skip


def _map_of(pid: int, name: str) -> int | None:
    """The id of the map `name` process `pid` holds an fd to."""
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            found = re.search(r"^map_id:\s*(\d+)", info.read_text(), re.M)
        except OSError:
            continue
        if found and get_map(int(found.group(1))).name == name:
            return int(found.group(1))
    return None


@pytest.fixture(scope="module")
def syscalls() -> Iterator[Syscalls]:
    """bpftrace counting one child's syscalls into AT_SYSCALLNUM; both killed by PID."""
    require_kernel()
    tool = _bpftrace()
    if os.uname().machine != "x86_64":
        pytest.skip("the syscall numbers below are x86_64's")
    _mount_tracefs()
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    script = (
        f"tracepoint:raw_syscalls:sys_enter /pid == {child.pid}/ "
        "{ @SYSCALLNUM[args->id] = count(); }"
    )
    tracer = subprocess.Popen([tool, "-e", script], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        assert tracer.stdout is not None and child.stdin is not None and child.stdout
        line = tracer.stdout.readline()
        while line and "Attaching" not in line:
            line = tracer.stdout.readline()
        assert line, f"bpftrace exited {tracer.wait()}"
        deadline = time.monotonic() + 10
        map_id = None
        while map_id is None and time.monotonic() < deadline:
            map_id = _map_of(tracer.pid, "AT_SYSCALLNUM")
            time.sleep(0.05)
        assert map_id is not None, "bpftrace made no AT_SYSCALLNUM map"
        time.sleep(0.2)  # the probe is attached once bpftrace printed its line
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "done\n"
        yield Syscalls(map_id, child.pid)
    finally:
        for proc in (tracer, child):
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def syscall_agent(
    syscalls: Syscalls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PhydevServer]:
    server = PhydevServer(bpf_dir=str(tmp_path_factory.mktemp("bpffs-none")))
    server.wait_ready()
    yield server
    server.stop()


def raw_by_sum(map_id: int) -> list[tuple[int, int, list[int]]]:
    """(key, sum, per-CPU counts) from bpftool's raw dump, greatest sum first, ties by key."""
    rows = []
    for entry in bpftool_json("map", "dump", "id", str(map_id)):  # type: ignore[union-attr]
        key = int.from_bytes(bytes(int(b, 16) for b in entry["key"]), "little")
        cpus = [int.from_bytes(bytes(int(b, 16) for b in v["value"]), "little")
                for v in entry["values"]]  # fmt: skip
        rows.append((key, sum(cpus), cpus))
    return sorted(rows, key=lambda r: (-r[1], r[0]))


ENTRIES = """query($id: Int!, $sort: String, $top: Int, $desc: Boolean, $search: String) {
  map(id: $id) { isPerCPU entriesCount
    entries(limit: 500, keyFormat: NUMBER, valueFormat: NUMBER, sortBy: $sort, top: $top,
            descending: $desc, keySearch: $search) { key cpuValues total } } }"""


def test_graphql_sorts_the_syscall_map_by_per_cpu_sum(
    syscalls: Syscalls, syscall_agent: PhydevServer
) -> None:
    raw = raw_by_sum(syscalls.map_id)
    for number, count in SYSCALLS.items():  # the child's known mix, counted for real
        assert next(r[1] for r in raw if r[0] == number) >= count
    assert raw[0][0] == 110  # getppid, 3000 times, is the busiest
    answer = data(syscall_agent, ENTRIES, {"id": syscalls.map_id, "sort": "sum"})["map"]
    assert answer["isPerCPU"] and answer["entriesCount"] == len(raw)
    got = [(int(e["key"]), int(e["total"]), [int(v) for v in e["cpuValues"]])
           for e in answer["entries"]]  # fmt: skip
    assert got == raw
    top = data(syscall_agent, ENTRIES, {"id": syscalls.map_id, "sort": "sum", "top": 3,
                                        "desc": False})["map"]["entries"]  # fmt: skip
    assert [int(e["key"]) for e in top] == [r[0] for r in raw[:3]][::-1]
    found = data(syscall_agent, ENTRIES, {"id": syscalls.map_id, "sort": "sum",
                                          "search": "10"})["map"]["entries"]  # fmt: skip
    assert [int(e["key"]) for e in found] == [r[0] for r in raw if "10" in str(r[0])]
    assert {110, 102, 104} <= {int(e["key"]) for e in found}


def test_cli_dump_sort_sum_top_5(syscalls: Syscalls) -> None:
    raw = raw_by_sum(syscalls.map_id)
    table = run_phydev("inspect", "maps", "dump", str(syscalls.map_id), "--sort", "sum",
                       "--top", "5").stdout.splitlines()  # fmt: skip
    ncpus = possible_cpus()
    assert table[0].split("\t") == ["Key", *(f"CPU{c}" for c in range(ncpus)), "Total"]
    rows = [line.split("\t") for line in table[1:]]
    assert [(int.from_bytes(bytes.fromhex(r[0]), "little"), int(r[-1])) for r in rows] == [
        (k, s) for k, s, _ in raw[:5]]  # fmt: skip
    as_json = json.loads(run_phydev("inspect", "maps", "dump", str(syscalls.map_id), "--sort",
                                    "sum", "--top", "5", "--asc", "--format", "number",
                                    "--json").stdout)  # fmt: skip
    assert [(int(e["key"]), e["total"]) for e in as_json] == [(k, s) for k, s, _ in raw[:5]][::-1]
    searched = run_phydev("inspect", "maps", "dump", str(syscalls.map_id), "--format", "number",
                          "--key", "11").stdout.splitlines()  # fmt: skip
    keys = sorted(r[0] for r in raw if "11" in str(r[0]))
    assert [int(line.split("\t")[0]) for line in searched[1:]] == keys
    bad = run_phydev("inspect", "maps", "dump", str(syscalls.map_id), "--sort", "packets",
                     check=False)  # fmt: skip
    assert bad.returncode == 1 and "no BTF type for its values" in bad.stderr


# ---------------------------------------------------------------- a BTF struct map


@dataclass
class StructMaps:
    mount: BpffsMount
    obj: LoadedObject

    def map_id(self, name: str) -> int:
        return self.obj.map_ids[name]


@pytest.fixture(scope="module")
def struct_maps(build_dir: Path) -> Iterator[StructMaps]:
    """btf_types.bpf.o in a private bpffs; pcpu_names (per-CPU, struct pcpu_val {__u64
    packets; __u32 bytes; char last[6];}) filled here."""
    require_kernel()
    mount = BpffsMount()
    try:
        obj = load_object(build_bpf("btf_types.bpf.o", build_dir), mount)
        with MapHandle.open(obj.map_ids["pcpu_names"]) as handle:
            for i, name in enumerate(["bash", "sshd", "cron", "nginx"]):
                cells = b"".join(
                    struct.pack("=QI6s", (i * 3 % 4) * 100 + c, 7000 - i * 10 - c, b"t")
                    .ljust(handle.slot_size, b"\0") for c in range(handle.ncpus)
                )  # fmt: skip
                handle.update(name.encode().ljust(12, b"\0"), cells)
        yield StructMaps(mount, obj)
    finally:
        mount.close()


@pytest.fixture(scope="module")
def struct_agent(struct_maps: StructMaps) -> Iterator[PhydevServer]:
    server = PhydevServer("--allow-writes", "--etm", "-:^pcpu_names$:btf",
                          bpf_dir=str(struct_maps.mount.path))  # fmt: skip
    server.wait_ready()
    yield server
    server.stop()


def kernel_cells(map_id: int) -> dict[str, list[tuple[int, int]]]:
    """name -> [(packets, bytes) per CPU], read from the kernel."""
    out = {}
    with MapHandle.open(map_id, read_only=True) as handle:
        dump = handle.read_all()
        for i in range(dump.count):
            name = dump.key(i).rstrip(b"\0").decode()
            out[name] = [struct.unpack_from("=QI", v) for v in dump.cpu_values(i)]
    return out


def test_struct_map_sorted_by_a_field(struct_maps: StructMaps, struct_agent: PhydevServer) -> None:
    map_id = struct_maps.map_id("pcpu_names")
    cells = kernel_cells(map_id)
    query = """query($id: Int!) { map(id: $id) {
      valueFields { path typeName kind bits signed minimum maximum }
      entries(keyFormat: STRING, valueFormat: BTF, sortBy: "bytes", descending: false) {
        key total } } }"""
    answer = data(struct_agent, query, {"id": map_id})["map"]
    assert [(f["path"], f["typeName"], f["bits"]) for f in answer["valueFields"]] == [
        ("packets", "__u64", 64), ("bytes", "__u32", 32)]  # fmt: skip
    assert answer["valueFields"][1]["maximum"] == str(2**32 - 1)
    by_bytes = sorted(cells, key=lambda n: (sum(b for _, b in cells[n]), n))
    assert [e["key"] for e in answer["entries"]] == by_bytes
    assert [json.loads(e["total"]) for e in answer["entries"]] == [
        {"packets": sum(p for p, _ in cells[n]), "bytes": sum(b for _, b in cells[n])}
        for n in by_bytes
    ]
    cli = run_phydev("inspect", "maps", "dump", str(map_id), "--sort", "packets", "--top", "2",
                     "--json").stdout  # fmt: skip
    by_packets = sorted(cells, key=lambda n: (-sum(p for p, _ in cells[n]), n.encode()))
    assert [e["total"] for e in json.loads(cli)] == [sum(p for p, _ in cells[n])
                                                     for n in by_packets[:2]]  # fmt: skip


UPDATE = """mutation($id: Int!, $key: String!, $cpu: Int, $value: String!) {
  updateMapValue(mapId: $id, key: $key, cpu: $cpu, value: $value, keyFormat: STRING,
                 valueFormat: BTF) { error } }"""


def test_btf_value_edited_field_by_field(
    struct_maps: StructMaps, struct_agent: PhydevServer
) -> None:
    map_id = struct_maps.map_id("pcpu_names")
    before = kernel_cells(map_id)["cron"]
    answer = data(struct_agent, UPDATE, {"id": map_id, "key": "cron", "cpu": 1,
                                         "value": '{"bytes": 4242}'})  # fmt: skip
    assert answer["updateMapValue"]["error"] is None
    after = kernel_cells(map_id)["cron"]
    assert after[1] == (before[1][0], 4242)  # packets kept, bytes written
    assert after[0] == before[0]  # the other CPU untouched
    refused = data(struct_agent, UPDATE, {"id": map_id, "key": "cron", "cpu": 0,
                                          "value": '{"bytes": -1}'})  # fmt: skip
    assert "does not fit in 32 unsigned bits" in refused["updateMapValue"]["error"]
    assert kernel_cells(map_id)["cron"] == after


def test_etm_btf_exports_every_numeric_field(
    struct_maps: StructMaps, struct_agent: PhydevServer
) -> None:
    map_id = struct_maps.map_id("pcpu_names")
    # A scrape may answer from a read up to --cache-max-age old (1 s): the edit test wrote
    # to the map just before, so scrape until the samples follow the kernel.
    deadline = time.monotonic() + 10
    while True:
        want = {}
        for name, per_cpu in kernel_cells(map_id).items():
            for cpu, (packets, nbytes) in enumerate(per_cpu):
                want[(name, "packets", str(cpu))] = float(packets)
                want[(name, "bytes", str(cpu))] = float(nbytes)
        body, _ = struct_agent.get("/metrics")
        samples = {}
        for line in body.splitlines():
            if line.startswith("devagent_ebpf_map_entry_value{") and f'id="{map_id}"' in line:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
                value = float(line.rsplit(" ", 1)[1])
                samples[(labels["key"], labels["field"], labels["cpu"])] = value
        if samples == want or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert samples == want  # every numeric field, no char array, no padding
