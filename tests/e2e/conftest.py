"""Fixtures for whole-process tests: maps that only the tests write, and agents serving them."""

from __future__ import annotations

import json
import os
import secrets
import struct
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devagent.bpf.cgroups import cgroup2_mount
from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.bpf.pins import open_pinned, pin_object
from devagent.bpf.progs import load_program, return_imm
from tests.conftest import BpffsMount, InspectFixture, PhydevServer, require_kernel

HASH_ENTRIES = 40
BIG_ENTRIES = 20_000  # entries of the fanout fixture's hash map


@dataclass
class OwnMaps:
    """Maps made and filled by the test process, pinned in a private bpffs. Nothing else
    writes to them, so exact comparisons are safe."""

    mount: BpffsMount
    fds: dict[str, Fd] = field(default_factory=dict)

    def id(self, name: str) -> int:
        return map_info(self.fds[name]).id

    def handle(self, name: str) -> MapHandle:
        """A handle on its own duplicate fd: close it (use `with`) when done."""
        fd = self.fds[name]
        return MapHandle(Fd(os.dup(fd.fd)), map_info(fd))

    @property
    def bpf_dir(self) -> str:
        return str(self.mount.path)


def _fill(handle: MapHandle, items: dict[bytes, bytes]) -> None:
    with handle:
        for key, value in items.items():
            handle.update(key, value)


@contextmanager
def made_own_maps() -> Iterator[OwnMaps]:
    """The test's own maps (below), filled, pinned in a private bpffs; freed on exit."""
    require_kernel()
    maps = OwnMaps(BpffsMount())
    ncpus = possible_cpus()
    specs = {
        "t_hash": ("Hash", 4, 8, 64),
        "t_pcpu": ("PerCPUHash", 4, 8, 16),
        "t_array": ("Array", 4, 8, 4),
        "t_str": ("Hash", 16, 8, 16),
    }
    try:
        for name, (kind, ks, vs, n) in specs.items():
            fd = create_map(MAP_TYPE_IDS[kind], ks, vs, n, name=name)
            maps.fds[name] = fd
            pin_object(fd, str(maps.mount.path / name))
        _fill(maps.handle("t_hash"), {
            struct.pack("<I", i * 37 % 1000): struct.pack("<Q", i) for i in range(HASH_ENTRIES)
        })  # fmt: skip
        _fill(maps.handle("t_pcpu"), {
            struct.pack("<I", k): b"".join(struct.pack("<Q", 10 * k + c) for c in range(ncpus))
            for k in (1, 2, 3, 5, 8, 13, 21, 34)
        })  # fmt: skip
        _fill(maps.handle("t_str"), {
            name.encode().ljust(16, b"\0"): struct.pack("<Q", len(name))
            for name in ("bash", "sshd", "python3", "systemd", "cron", "a", "nginx", "zsh")
        })  # fmt: skip
        yield maps
    finally:
        for fd in maps.fds.values():
            fd.close()
        maps.mount.close()


@pytest.fixture(scope="module")
def own_maps() -> Iterator[OwnMaps]:
    with made_own_maps() as maps:
        yield maps


@pytest.fixture(scope="module")
def own_agent(own_maps: OwnMaps) -> Iterator[PhydevServer]:
    """A read-only agent over the test's own maps."""
    server = PhydevServer(bpf_dir=own_maps.bpf_dir)
    server.wait_ready()
    yield server
    server.stop()


# ---------------------------------------------------------------- owners in cgroups


@dataclass
class Placed:
    """A process placed in a runtime-named cgroup, and what phydev must say about it."""

    pid: int
    cgroup: str
    unit: str | None
    container: dict[str, str] | None
    pod: dict[str, str | None] | None


def _ids() -> tuple[str, str]:
    return secrets.token_hex(32), str(uuid.uuid4())


Case = tuple[str, str | None, dict[str, str] | None, dict[str, str | None] | None]


def _cases() -> list[Case]:
    """(cgroup path under the parent, unit, container, pod) as each runtime names them."""
    out: list[Case] = []
    cid, _ = _ids()
    out.append((f"system.slice/docker-{cid}.scope", f"docker-{cid}.scope",
                {"id": cid, "runtime": "docker"}, None))  # fmt: skip
    cid, _ = _ids()
    out.append((f"docker/{cid}", None, {"id": cid, "runtime": "docker"}, None))
    cid, uid = _ids()
    slice_ = f"kubepods-besteffort-pod{uid.replace('-', '_')}.slice"
    out.append((f"kubepods.slice/kubepods-besteffort.slice/{slice_}/cri-containerd-{cid}.scope",
                f"cri-containerd-{cid}.scope", {"id": cid, "runtime": "containerd"},
                {"uid": uid, "name": "web-0", "namespace": "shop"}))  # fmt: skip
    cid, uid = _ids()
    slice_ = f"kubepods-burstable-pod{uid.replace('-', '_')}.slice"
    out.append((f"kubepods.slice/kubepods-burstable.slice/{slice_}/crio-{cid}.scope",
                f"crio-{cid}.scope", {"id": cid, "runtime": "cri-o"},
                {"uid": uid, "name": "db-1", "namespace": "data"}))  # fmt: skip
    cid, uid = _ids()
    out.append((f"kubepods/besteffort/pod{uid}/{cid}", None, {"id": cid, "runtime": "containerd"},
                {"uid": uid, "name": None, "namespace": None}))  # fmt: skip
    cid, _ = _ids()
    out.append((f"machine.slice/libpod-{cid}.scope/container", f"libpod-{cid}.scope",
                {"id": cid, "runtime": "podman"}, None))  # fmt: skip
    out.append(("system.slice/phydev-probe.service", "phydev-probe.service", None, None))
    return out


def _write_runtime_state(root: Path, placed: list[Placed]) -> None:
    """Runtime state as a node has it: containerd's OCI bundle under its task directory and
    cri-o's under its storage, with the pod annotations each writes."""
    for p in placed:
        if not (p.container and p.pod and p.pod["name"]):
            continue
        cid = p.container["id"]
        if p.container["runtime"] == "containerd":
            path = root / f"run/containerd/io.containerd.runtime.v2.task/k8s.io/{cid}/config.json"
            notes = {"io.kubernetes.cri.sandbox-name": p.pod["name"],
                     "io.kubernetes.cri.sandbox-namespace": p.pod["namespace"],
                     "io.kubernetes.cri.sandbox-uid": p.pod["uid"]}  # fmt: skip
        else:
            path = root / f"run/containers/storage/overlay-containers/{cid}/userdata/config.json"
            notes = {"io.kubernetes.pod.name": p.pod["name"],
                     "io.kubernetes.pod.namespace": p.pod["namespace"]}  # fmt: skip
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"ociVersion": "1.0.2", "annotations": notes}))


@pytest.fixture(scope="session")
def placed(
    inspect_fixture: InspectFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, list[Placed], Path]]:
    """(program id, processes holding it from runtime-named cgroups, host root)."""
    mount = cgroup2_mount()
    if mount is None:
        pytest.fail("no cgroup2 mount: owners' cgroups cannot be tested")
    parent = Path(mount) / f"phydev-test-{os.getpid()}-{secrets.token_hex(3)}"
    prog_id = inspect_fixture.prog_id("inspect_tc")
    made: list[Path] = []
    procs: list[subprocess.Popen[bytes]] = []
    out: list[Placed] = []
    try:
        parent.mkdir()
        made.append(parent)
        with open_pinned(inspect_fixture.obj.prog_pin("inspect_tc")) as fd:
            for rel, unit, container, pod in _cases():
                path = parent / rel
                for d in reversed([path, *path.parents]):
                    if d.is_relative_to(parent) and not d.exists():
                        d.mkdir()
                        made.append(d)
                proc = subprocess.Popen(["sleep", "600"], pass_fds=[fd.fd])
                procs.append(proc)
                (path / "cgroup.procs").write_text(str(proc.pid))
                cgroup = "/" + str(path.relative_to(mount))
                out.append(Placed(proc.pid, cgroup, unit, container, pod))
        root = tmp_path_factory.mktemp("hostroot")
        _write_runtime_state(root, out)
        yield prog_id, out, root
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for d in sorted(made, key=lambda p: len(p.parts), reverse=True):
            d.rmdir()


@dataclass
class Fanout:
    mount: BpffsMount
    big_id: int
    fds: list[Fd] = field(default_factory=list)

    @property
    def bpf_dir(self) -> str:
        return str(self.mount.path)


@pytest.fixture(scope="session")
def fanout() -> Iterator[Fanout]:
    """20 programs that all use the same 8 maps (programs { maps { programs ... fans out
    160-fold every two levels) and a 20k-entry hash map, in a private bpffs: the objects of
    the cost and slow-client tests."""
    require_kernel()
    mount = BpffsMount()
    fds: list[Fd] = []
    try:
        maps = [create_map(MAP_TYPE_IDS["Array"], 4, 8, 4, name=f"fan_m{i}") for i in range(8)]
        fds += maps
        fds += [load_program(1, return_imm(0, tuple(m.fd for m in maps)), name=f"fan_p{i}")
                for i in range(20)]  # fmt: skip
        big = create_map(MAP_TYPE_IDS["Hash"], 8, 8, BIG_ENTRIES, name="fan_big")
        fds.append(big)
        pin_object(big, str(mount.path / "fan_big"))
        keys = b"".join(struct.pack("<Q", i) for i in range(BIG_ENTRIES))
        MapHandle(Fd(os.dup(big.fd)), map_info(big)).update_batch(keys, keys)
        yield Fanout(mount, map_info(big).id, fds)
    finally:
        for fd in fds:
            fd.close()
        mount.close()
