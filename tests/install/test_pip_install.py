"""`pip install .` (not editable) into a clean venv: the `phydev` console script and
`python -m devagent` answer as the dev venv and bpftool do for the session's kernel objects,
and the installed package carries its data files (the GraphQL schema, the web UI and
GraphiQL's static files), served by a `phydev server` of that venv."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.install.helpers import (
    INSTALL_TIMEOUT,
    STATIC,
    Objects,
    Phydev,
    Server,
    check_about,
    check_assets,
    check_features_json,
    check_links_list_json,
    check_maps_list_json,
    check_progs_list_json,
    check_server,
    clean_env,
    copy_worktree,
    served_file,
)

# The module's setup installs the dependencies from PyPI.
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + 300)
SOURCE = ROOT / "src" / "devagent"


@dataclass
class Installed:
    venv: Path
    site: Path  # the installed package: <venv>/lib/pythonX.Y/site-packages/devagent
    script: Phydev  # the console script
    module: Phydev  # python -m devagent


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    """The working tree copied, then `pip install <copy>` into a fresh `python3 -m venv`."""
    tmp = Path(tempfile.mkdtemp(prefix="devagent-pip-"))
    try:
        source = copy_worktree(tmp)
        venv = tmp / "venv"
        env = clean_env()
        python3 = shutil.which("python3", path=env["PATH"])
        assert python3, "no python3 on PATH"
        subprocess.run([python3, "-m", "venv", str(venv)], env=env, check=True, timeout=120)
        python = str(venv / "bin" / "python")
        done = subprocess.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
            env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        where = subprocess.run(
            [python, "-c", "import devagent; print(devagent.__file__)"],
            env=env, capture_output=True, text=True, check=True, cwd=tmp,
        ).stdout.strip()  # fmt: skip
        site = Path(where).parent
        yield Installed(
            venv, site, Phydev((str(venv / "bin" / "phydev"),)),
            Phydev((python, "-m", "devagent")),
        )  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_package_is_installed_with_its_data_files(installed: Installed) -> None:
    """A real install into site-packages (not a link to the copy), with the schema, every
    static file of the web UI and GraphiQL, and py.typed; no capstone (no extras)."""
    assert installed.site.parent.name == "site-packages"
    assert installed.site.resolve().is_relative_to(installed.venv.resolve())
    schemas = sorted(p.name for p in (SOURCE / "api").glob("*.graphqls"))
    assert schemas and "schema.graphqls" in schemas
    for name in schemas:
        assert (installed.site / "api" / name).read_bytes() == (SOURCE / "api" / name).read_bytes()
    assert files_under(installed.site / "web" / "static") == files_under(STATIC)
    assert (installed.site / "py.typed").exists()
    assert not list(installed.site.parent.glob("capstone*"))


ENTRIES = ["console-script", "python-m-devagent"]
COMMANDS = ["progs list --json", "maps list --json", "links list --json", "features --json",
            "about"]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("entry", ENTRIES)
def test_cli(installed: Installed, objs: Objects, entry: str, command: str) -> None:
    cli = installed.script if entry == "console-script" else installed.module
    if command == "progs list --json":
        check_progs_list_json(cli, objs)
    elif command == "maps list --json":
        check_maps_list_json(cli, objs, ("list", "--bpf_dir", objs.frozen_dir),
                             bpf_dir=objs.frozen_dir)  # fmt: skip
    elif command == "links list --json":
        check_links_list_json(cli, objs, "--bpf_dir", objs.packet.bpf_dir,
                              bpf_dir=objs.packet.bpf_dir)  # fmt: skip
    elif command == "features --json":
        check_features_json(cli)
    else:
        check_about(cli)


def test_server_serves_the_installed_data_files(installed: Installed, objs: Objects) -> None:
    """`phydev server` of the venv: the explorer's query (the schema is read from the
    package), /metrics, the web UI and GraphiQL pages with their static files, byte for byte
    the working tree's."""
    with Server(installed.script, bpf_dir=objs.frozen_dir) as server:
        server.wait_ready()
        check_server(server, objs)
        page, kind = server.get("/")
        assert kind.startswith("text/html")
        html = page.decode()
        assert '"endpoint": "/query"' in html and "graphiql" in html.lower()
        check_assets(server, html)
        vendored = "vendor/graphiql/graphiql.min.js"
        assert served_file(server, html, vendored) == (STATIC / vendored).read_bytes()
        assert server.stop() == 0, server.output
