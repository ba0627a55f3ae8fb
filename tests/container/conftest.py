"""Session fixtures for container tests: the base and agent images are built once per session
and shared; every container a test starts is removed when the test ends."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from tests.conftest import REQUIRE_KERNEL, ROOT, FrozenCounters, StatsHold, require_kernel
from tests.podman import (
    Container,
    build_agent_image,
    ensure_base_image,
    podman,
    podman_usable_reason,
    write_containers_conf,
)
from tests.podman import (
    run_container as start_container,
)

RunContainer = Callable[..., Container]
HELD_ENTRIES = 7


@pytest.fixture(scope="session")
def podman_env() -> Iterator[None]:
    """podman usable, configured for this machine through CONTAINERS_CONF."""
    require_kernel()
    reason = podman_usable_reason()
    if reason is not None:
        if REQUIRE_KERNEL:
            pytest.fail(f"DEVAGENT_REQUIRE_KERNEL=1 but {reason}")
        pytest.skip(reason)
    confdir = Path(tempfile.mkdtemp(prefix="devagent-podman-"))
    previous = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(write_containers_conf(confdir))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = previous
        shutil.rmtree(confdir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_image(podman_env: None) -> str:
    """The Debian + python3 base image (cached in podman's store between runs)."""
    return os.environ.get("DEVAGENT_TEST_BASE_IMAGE") or ensure_base_image()


@pytest.fixture(scope="session")
def agent_image(base_image: str) -> Iterator[str]:
    """The agent image built from this checkout by scripts/build-image, once per session;
    removed at the end of the session."""
    tag = f"localhost/devagent-test-agent:{os.getpid()}-{int(time.time())}"
    build_agent_image(ROOT, base_image, tag)
    try:
        yield tag
    finally:
        podman("rmi", "--force", tag, check=False)


@pytest.fixture
def run_container(podman_env: None) -> Iterator[RunContainer]:
    """Start containers (see tests.podman.run_container); all are removed after the test."""
    started: list[Container] = []

    def start(image: str, *args: str, **kwargs: object) -> Container:
        container = start_container(image, *args, **kwargs)  # type: ignore[arg-type]
        started.append(container)
        return container

    yield start
    for container in started:
        container.stop()


@dataclass
class HostObjects:
    """What the agent in the container must see: objects loaded on the host by the tests."""

    frozen: FrozenCounters
    held_id: int

    @property
    def prog_id(self) -> int:
        return self.frozen.obj.prog_ids["count_packets"]

    @property
    def map_id(self) -> int:
        return self.frozen.at_map_id

    @property
    def bpffs(self) -> str:
        return str(self.frozen.mount.path)


@pytest.fixture(scope="module")
def host_objects(
    stats_enabled: StatsHold, frozen_counters: FrozenCounters
) -> Iterator[HostObjects]:
    """The frozen fixture program and maps, plus a hash map only this process holds (not
    pinned: its one owner is the test process)."""
    fd = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 16, name="held_by_test")
    try:
        with MapHandle(Fd(os.dup(fd.fd)), map_info(fd)) as handle:
            for i in range(HELD_ENTRIES):
                handle.update(struct.pack("<I", i), struct.pack("<Q", i * i))
        yield HostObjects(frozen_counters, map_info(fd).id)
    finally:
        fd.close()
