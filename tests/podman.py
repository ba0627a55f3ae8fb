"""Containers for the tests: Debian's podman (runc runtime), images built once per session.

Reusable by any test that needs the agent in a real container (see tests/container/conftest.py
for the session fixtures `agent_image` and `run_container`):

    def test_x(agent_image: str, run_container: RunContainer) -> None:
        c = run_container(agent_image, "--privileged", "--network", "host", env={"PORT": "9123"})
        c.wait_http("http://127.0.0.1:9123/readyz")

Facts of these machines, kept in one generated containers.conf (CONTAINERS_CONF) so that the
commands the tests run are the README's, unchanged:
- crun refuses the hybrid cgroup layout, runc works;
- the sandbox lacks CAP_SYS_RESOURCE, so containers get nofile=1024 and nproc=4096 limits
  instead of podman's defaults (which it would fail to raise);
- no image registry is reachable: the base image is made from Debian packages with
  mmdebstrap + `podman import`, and kept in podman's store between runs under a name that
  hashes its recipe (delete it with `podman rmi` to force a rebuild).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""

BASE_SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_REPO = "localhost/devagent-test-base"


def podman(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run podman with the tests' containers.conf; output captured as text."""
    return subprocess.run(
        ["podman", *args], check=check, capture_output=True, text=True, timeout=timeout
    )


def write_containers_conf(directory: Path) -> Path:
    """The machine facts above as a containers.conf for CONTAINERS_CONF."""
    path = directory / "containers.conf"
    path.write_text(CONTAINERS_CONF)
    return path


def base_image_name() -> str:
    """Name of the cached base image: changes whenever its recipe does."""
    recipe = f"{BASE_SUITE} {BASE_PACKAGES} {DEBIAN_MIRROR}".encode()
    return f"{BASE_REPO}:{BASE_SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def ensure_base_image() -> str:
    """A Debian image with python3 + venv: reused from podman's store, or made (~30-120 s,
    depending on the mirror) with mmdebstrap and imported."""
    name = base_image_name()
    if image_exists(name):
        return name
    workdir = Path(tempfile.mkdtemp(prefix="devagent-base-"))
    try:
        tar = workdir / "rootfs.tar"
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "--quiet",
             BASE_SUITE, str(tar), DEBIAN_MIRROR],
            check=True, capture_output=True, text=True, timeout=900,
            stdin=subprocess.DEVNULL,  # with a pipe on stdin mmdebstrap reads sources.list from it
        )  # fmt: skip
        podman("import", "--quiet", str(tar), name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return name


def build_agent_image(root: Path, base: str, tag: str) -> None:
    """scripts/build-image, as a user runs it (wheels made on the host, no network inside)."""
    subprocess.run(
        [str(root / "scripts" / "build-image"), "--tag", tag, "--base", base,
         "--", "--layers=false", "--quiet"],
        check=True, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


class Container:
    """A container started detached by `podman run -d`; removed by name on stop()."""

    def __init__(self, name: str) -> None:
        self.name = name

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        done = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return done.stdout.strip() == "true"

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *cmd, check=False)

    def wait_http(self, url: str, timeout: float = 30.0) -> str:
        """Poll url until it answers 200; its body. Fails with the container's logs."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    return resp.read().decode()
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code}: {err.read().decode(errors='replace')}"
            except OSError as err:
                last = str(err)
            if not self.running():
                break
            time.sleep(0.2)
        raise AssertionError(f"{url} not ready ({last}); container logs:\n{self.logs()}")

    def stop(self) -> None:
        podman("rm", "--force", "--time", "2", self.name, check=False)


def run_container(image: str, *podman_args: str, command: tuple[str, ...] = ("server",),
                  env: dict[str, str] | None = None) -> Container:  # fmt: skip
    """`podman run -d --rm --name devagent-test-... ARGS IMAGE COMMAND`."""
    name = f"devagent-test-{uuid.uuid4().hex[:10]}"
    env_args = [f"--env={k}={v}" for k, v in (env or {}).items()]
    podman("run", "-d", "--rm", "--name", name, *env_args, *podman_args, image, *command)
    return Container(name)


def podman_usable_reason() -> str | None:
    """Why container tests cannot run here, or None."""
    for tool in ("podman", "runc", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/test installs it)"
    if os.geteuid() != 0:
        return "container tests run rootful podman: run as root"
    return None
