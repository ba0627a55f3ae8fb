"""scripts/build-image on hosts that need ulimit settings (issue 22, item 5): arguments from
--engine-arg and PHYDEV_ENGINE_ARGS reach every container command the script runs (`run`,
which asks the base image for its Python, and `build`), right after the subcommand.

No image is built here (that takes minutes; tests/container builds one per session): the
dry run prints the commands, and a stand-in engine that records its arguments shows the
real path passes them too."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build-image"
ULIMITS = ["--ulimit=nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def build_image(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_dry_run_puts_the_args_on_every_container_command() -> None:
    result = build_image(
        "--dry-run", "--engine", "podman", "--tag", "t:1", "--engine-arg=--ulimit=nofile=1024:1024",
        "--engine-arg", "--ulimit", env={"PHYDEV_ENGINE_ARGS": "nproc=4096:4096"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert [c[:2] for c in commands] == [["podman", "run"], ["podman", "build"]]
    for command in commands:
        assert command[2:5] == ULIMITS, command
    assert "--network" in commands[0] and commands[1][-1] == "CONTEXT"


def test_without_extra_args_the_commands_are_as_before() -> None:
    result = build_image("--dry-run", "--engine", "docker", "--", "--pull=never")
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    assert commands[0][:3] == ["docker", "run", "--rm"]
    assert commands[1][:3] == ["docker", "build", "--tag"] and "--pull=never" in commands[1]


def test_the_real_path_passes_them_and_says_what_to_try(tmp_path: Path) -> None:
    """A stand-in engine that refuses to run containers (as podman does on such a host)
    records what it was given; the script stops with a line naming the ways to pass
    ulimit settings."""
    log = tmp_path / "argv"
    engine = tmp_path / "fake-engine"
    engine.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\nexit 1\n')
    engine.chmod(0o755)
    result = build_image("--engine", str(engine), env={"PHYDEV_ENGINE_ARGS": " ".join(ULIMITS)})
    assert result.returncode == 1
    assert log.read_text().splitlines()[:4] == ["run", *ULIMITS]
    assert "cannot run python3 in base image" in result.stderr
    assert "--engine-arg" in result.stderr and "CONTAINERS_CONF" in result.stderr


def test_help_documents_them() -> None:
    text = build_image("--help").stdout
    for word in ("--engine-arg", "--dry-run", "PHYDEV_ENGINE_ARGS", "CONTAINERS_CONF"):
        assert word in text
    assert "set -euo" not in text
