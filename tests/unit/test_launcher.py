"""The `./phydev` launcher: a set-up venv is used directly (no Python start to check it), stale
bytecode is rebuilt, and a pyproject.toml change reinstalls. Run on a copy of the launcher with a
stand-in venv whose `phydev` and `pip` only record that they ran."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import UNPRIVILEGED

ROOT = Path(__file__).resolve().parents[2]


def stand_in(path: Path, text: str) -> None:
    path.write_text("#!/bin/sh\n" + text + "\n")
    path.chmod(0o755)


def make_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "clone"
    (tree / "src").mkdir(parents=True)
    shutil.copy(ROOT / "phydev", tree / "phydev")
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    (tree / "src" / "devagent").mkdir()
    (tree / "src" / "devagent" / "mod.py").write_text("X = 1\n")
    venv_bin = tree / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    stand_in(venv_bin / "python", f'echo "$*" >> "{tree}/python-calls"\nexec {sys.executable} "$@"')
    stand_in(venv_bin / "phydev", 'echo "ran phydev $*"')
    stand_in(venv_bin / "pip", f'echo "$*" >> "{tree}/pip-calls"')
    cksum = subprocess.run(["cksum"], stdin=(tree / "pyproject.toml").open(), text=True,
                           capture_output=True, check=True).stdout.split()[0]  # fmt: skip
    (tree / ".venv" / ".devagent-stamp").write_text(cksum + "\n")
    return tree


def python_runs(tree: Path) -> list[str]:
    """What the venv's python was asked to run, apart from the CLI itself."""
    calls = tree / "python-calls"
    return calls.read_text().splitlines() if calls.exists() else []


def launch(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    return subprocess.run([str(tree / "phydev"), *args], capture_output=True, text=True,
                          env=env, check=True, timeout=60)  # fmt: skip


def test_set_up_venv_is_used_directly(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    stamp = tree / ".venv" / ".devagent-stamp"
    future = time.time() + 60
    os.utime(stamp, (future, future))  # every source older than the stamp
    assert launch(tree, "inspect", "progs", "list").stdout == "ran phydev inspect progs list\n"
    assert not (tree / "pip-calls").exists() and python_runs(tree) == []
    assert not (tree / "src" / "devagent" / "__pycache__").exists()


def test_cli_is_the_console_script_with_a_normal_start(tmp_path: Path) -> None:
    """The launcher runs the venv's console script, so the venv's site-packages are on the
    path for every command (a `python -S` start once broke every `--json` listing, which
    imports orjson); the `phydev-start` file earlier launchers wrote is removed."""
    tree = make_tree(tmp_path)
    start = tree / ".venv" / "bin" / "phydev-start"
    start.write_text("import sys\n")
    assert launch(tree, "inspect", "progs", "list", "--json").stdout == (
        "ran phydev inspect progs list --json\n"
    )
    assert not start.exists()


def test_sources_newer_than_the_stamp_are_compiled(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    stamp = tree / ".venv" / ".devagent-stamp"
    past = time.time() - 60
    os.utime(stamp, (past, past))
    assert launch(tree, "--version").stdout == "ran phydev --version\n"
    assert list((tree / "src" / "devagent" / "__pycache__").glob("mod.*.pyc"))
    assert stamp.stat().st_mtime > past + 30 and not (tree / "pip-calls").exists()
    assert "compileall" in (tree / "python-calls").read_text()
    (tree / "python-calls").unlink()
    launch(tree, "--version")  # compiled now: straight to the CLI
    assert python_runs(tree) == []


def test_changed_pyproject_reinstalls(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    with (tree / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    assert launch(tree, "about").stdout == "ran phydev about\n"
    assert f"-e {tree}" in (tree / "pip-calls").read_text()
    cksum = subprocess.run(["cksum"], stdin=(tree / "pyproject.toml").open(), text=True,
                           capture_output=True, check=True).stdout.split()[0]  # fmt: skip
    assert (tree / ".venv" / ".devagent-stamp").read_text().strip() == cksum
    (tree / "pip-calls").unlink()
    launch(tree, "about")
    assert not (tree / "pip-calls").exists()


def test_touched_but_unchanged_pyproject_does_not_reinstall(tmp_path: Path) -> None:
    """A pyproject.toml newer than the stamp (a checkout) is compared by content once; the
    stamp is renewed, so later starts take the fast path again."""
    tree = make_tree(tmp_path)
    stamp = tree / ".venv" / ".devagent-stamp"
    past = time.time() - 60
    os.utime(stamp, (past, past))
    os.utime(tree / "src" / "devagent", (past - 60, past - 60))
    assert launch(tree, "about").stdout == "ran phydev about\n"
    assert not (tree / "pip-calls").exists() and stamp.stat().st_mtime > past + 30


@contextmanager
def world_readable_dir() -> Iterator[Path]:
    """A temp dir any user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="devagent-launcher-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def launch_as_user(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the launcher as a plain user (uid 65534, no capabilities)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    return subprocess.run([*UNPRIVILEGED["user"], "--", str(tree / "phydev"), *args],
                          capture_output=True, text=True, env=env, check=False,
                          timeout=60)  # fmt: skip


def test_user_who_cannot_write_runs_the_set_up_cli(tmp_path: Path) -> None:
    """root set the clone up, then pyproject.toml changed (a git pull): a plain user cannot
    reinstall, so the launcher runs the CLI that is there (whose own line says what it needs)
    instead of failing with a permission error."""
    with world_readable_dir() as base:
        tree = make_tree(base)
        stand_in(tree / ".venv" / "bin" / "python", "exit 0")  # usable by anyone
        for path in [base, *base.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o005)  # others may read and enter, not write
        with (tree / "pyproject.toml").open("a") as f:
            f.write("\n# changed\n")
        result = launch_as_user(tree, "inspect", "progs", "list")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "ran phydev inspect progs list\n" and result.stderr == ""
        assert not (tree / "pip-calls").exists()


def test_user_without_a_usable_venv_is_told_why(tmp_path: Path) -> None:
    """The venv's interpreter lives where a plain user cannot read it (here: under a private
    directory): nothing can run, so the launcher says itself what is wrong (which directory
    the user may not enter, not a missing capability) and what to do; it must not try to
    rebuild the venv and fail on a permission error."""
    with world_readable_dir() as base:
        tree = make_tree(base)
        private = base / "private"
        private.mkdir(mode=0o700)
        stand_in(private / "python3", "exit 0")
        (tree / ".venv" / "bin" / "python").unlink()
        (tree / ".venv" / "bin" / "python").symlink_to(private / "python3")
        for path in [base, *tree.rglob("*"), tree]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o005)
        result = launch_as_user(tree, "inspect", "progs", "list")
        assert result.returncode == 1 and result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines
        assert f"user nobody cannot run the venv's Python {private}/python3" in lines[0]
        assert f"it may not enter {private} (drwx------ root)" in lines[0]
        assert "sudo ./phydev" in lines[0] and "CAP_" not in lines[0]
        assert not (tree / "pip-calls").exists() and (tree / ".venv" / "bin" / "phydev").exists()


def test_real_launcher_as_a_plain_user_reaches_run_as_root(tmp_path: Path) -> None:
    """The project's own launcher and venv (linked into a tree a plain user can enter): one
    line naming the real cause, from the CLI (the capabilities the user lacks) when the user
    can run the venv's Python, from the launcher (where the user may not go) otherwise."""
    with world_readable_dir() as base:
        tree = base / "clone"
        tree.mkdir(mode=0o755)
        for name in ("phydev", "pyproject.toml"):
            shutil.copy(ROOT / name, tree / name)
        (tree / "src").symlink_to(ROOT / "src")
        (tree / ".venv").symlink_to(ROOT / ".venv")
        result = launch_as_user(tree, "inspect", "progs", "list")
        assert result.returncode == 1 and result.stdout == "", result
        lines = result.stderr.splitlines()
        assert len(lines) == 1, lines
        assert ("cannot run the venv's Python" in lines[0] and "may not enter" in lines[0]) or (
            "lacks CAP_BPF and CAP_SYS_ADMIN: run as root" in lines[0]
        ), lines[0]
