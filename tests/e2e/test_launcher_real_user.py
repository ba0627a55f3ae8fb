"""`./phydev` run by a real unprivileged user (issue 22, item 5): a temporary user is added
with useradd and removed after. The one line it gets names the real cause: the directory
that keeps it from the venv's Python when it cannot run that (a venv made from a pyenv
under /root, say), or the capabilities it lacks once the CLI runs; never the other one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_kernel

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def user() -> Iterator[str]:
    """A fresh system user with no home and no login shell, deleted afterwards."""
    if os.geteuid() != 0 or not (shutil.which("useradd") and shutil.which("runuser")):
        pytest.skip("needs root, useradd and runuser")
    name = f"phydevt{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)  # fmt: skip
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp dir every user may enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="devagent-user-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_user(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return subprocess.run([runuser, "-u", name, "--", *argv], capture_output=True, text=True,
                          env=env, timeout=60, check=False)  # fmt: skip


def first_blocked_dir(name: str, target: Path) -> Path | None:
    """The first directory on the way to `target` that `name` may not enter."""
    for parent in reversed(target.parents):
        if as_user(name, "test", "-x", str(parent)).returncode != 0:
            return parent
    return None


def test_the_project_launcher_names_what_stops_this_user(user: str, open_dir: Path) -> None:
    """The project's launcher and its venv, linked into a tree the user may enter."""
    require_kernel()
    tree = open_dir / "clone"
    tree.mkdir(mode=0o755)
    for name in ("phydev", "pyproject.toml"):
        shutil.copy(ROOT / name, tree / name)
    (tree / "src").symlink_to(ROOT / "src")
    (tree / ".venv").symlink_to(ROOT / ".venv")
    python = Path(os.path.realpath(ROOT / ".venv" / "bin" / "python"))
    blocked = first_blocked_dir(user, python)
    result = as_user(user, str(tree / "phydev"), "inspect", "progs", "list")
    assert result.returncode == 1 and result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    uid = pwd.getpwnam(user).pw_uid
    if blocked is not None:  # e.g. this VM: the venv comes from a pyenv under /root (0700)
        assert lines[0].startswith(f"phydev: user {user} cannot run the venv's Python "), lines
        assert f"it may not enter {blocked} (" in lines[0] and "sudo ./phydev" in lines[0]
        assert "CAP_" not in lines[0]
    else:
        assert lines[0] == (
            f"phydev: not allowed to read eBPF objects: user {user} (uid {uid}) lacks CAP_BPF "
            "and CAP_SYS_ADMIN: run as root, or with CAP_BPF + CAP_SYS_ADMIN (and CAP_PERFMON "
            "for run statistics)"
        )


def test_a_venv_the_user_can_run_says_which_capabilities(user: str, open_dir: Path) -> None:
    """A venv whose Python is the system's (what `PYTHON=/usr/bin/python3 ./phydev` makes),
    with the project's packages: the launcher runs the CLI, which names the user and the
    capabilities it lacks."""
    require_kernel()
    system = Path("/usr/bin/python3")
    probe = f"import sys; sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})"
    if not system.exists() or subprocess.run([system, "-c", probe]).returncode != 0:
        pytest.skip("no /usr/bin/python3 of the dev venv's version to share its packages")
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    if first_blocked_dir(user, site / "click") is not None:
        pytest.skip(f"{user} may not read the dev venv's packages")
    tree = open_dir / "clone"
    (tree / ".venv" / "bin").mkdir(parents=True)
    for name in ("phydev", "pyproject.toml"):
        shutil.copy(ROOT / name, tree / name)
    (tree / "src").symlink_to(ROOT / "src")
    (tree / ".venv" / "bin" / "python").symlink_to(system)
    cli = tree / ".venv" / "bin" / "phydev"
    cli.write_text(
        f"#!/bin/sh\nPYTHONPATH={ROOT / 'src'}:{site} exec {system} -c "
        '\'import sys; from devagent.cli import main; sys.argv[0] = "phydev"; main()\' "$@"\n'
    )
    cli.chmod(0o755)
    want = subprocess.run(["cksum"], stdin=(tree / "pyproject.toml").open(), text=True,
                          capture_output=True, check=True).stdout.split()[0]  # fmt: skip
    (tree / ".venv" / ".devagent-stamp").write_text(want + "\n")
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o005)
    result = as_user(user, str(tree / "phydev"), "inspect", "maps", "list")
    uid = pwd.getpwnam(user).pw_uid
    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr == (
        f"phydev: not allowed to read eBPF objects: user {user} (uid {uid}) lacks CAP_BPF and "
        "CAP_SYS_ADMIN: run as root, or with CAP_BPF + CAP_SYS_ADMIN (and CAP_PERFMON for run "
        "statistics)\n"
    )
