"""Session fixtures for container tests: the base and agent images are built once per session
and shared; every container a test starts is removed when the test ends."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_KERNEL, ROOT, require_kernel
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
