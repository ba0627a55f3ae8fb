"""Fixtures for whole-process tests: maps that only the tests write, and agents serving them."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map, possible_cpus
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.bpf.pins import pin_object
from devagent.bpf.progs import load_program, return_imm
from tests.conftest import BpffsMount, PhydevServer, require_kernel

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


@pytest.fixture(scope="module")
def own_maps() -> Iterator[OwnMaps]:
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
def own_agent(own_maps: OwnMaps) -> Iterator[PhydevServer]:
    """A read-only agent over the test's own maps."""
    server = PhydevServer(bpf_dir=own_maps.bpf_dir)
    server.wait_ready()
    yield server
    server.stop()


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
