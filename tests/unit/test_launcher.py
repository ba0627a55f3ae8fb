"""The `./phydev` launcher: a set-up venv is used directly (no Python start to check it), stale
bytecode is rebuilt, and a pyproject.toml change reinstalls. Run on a copy of the launcher with a
stand-in venv whose `phydev` and `pip` only record that they ran."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
    stand_in(venv_bin / "python", f'echo "$*" >> "{tree}/python-calls"; exec {sys.executable} "$@"')
    stand_in(venv_bin / "phydev", 'echo "ran phydev $*"')
    stand_in(venv_bin / "pip", f'echo "$*" >> "{tree}/pip-calls"')
    cksum = subprocess.run(["cksum"], stdin=(tree / "pyproject.toml").open(), text=True,
                           capture_output=True, check=True).stdout.split()[0]  # fmt: skip
    (tree / ".venv" / ".devagent-stamp").write_text(cksum + "\n")
    return tree


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
    assert not (tree / "pip-calls").exists() and not (tree / "python-calls").exists()
    assert not (tree / "src" / "devagent" / "__pycache__").exists()


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
    assert not (tree / "python-calls").exists()


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
