"""The token out of the process list: `--auth-token TOKEN` sat in /proc/PID/cmdline, which
user nobody read, and got 200 from /query with it. `--auth-token-file PATH` (env
DEVAGENT_AUTH_TOKEN_FILE) and env DEVAGENT_AUTH_TOKEN keep it out; the command-line form
still works but warns. Real `phydev server` and `phydev top` processes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import PhydevServer, free_port, run_phydev
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_graphql_safety import SIMPLE, request
from tests.e2e.test_graphql_safety import _wait as wait_for_page

TOKEN = "file-t0ken-Ω"
BODY = json.dumps({"query": SIMPLE}).encode()
JSON = {"Content-Type": "application/json"}
WARNING = "phydev: warning: --auth-token on the command line can be read by every local user"


def token_file(directory: Path, text: str = TOKEN + "\n", mode: int = 0o600) -> Path:
    path = directory / "token"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def query_status(server: PhydevServer, token: str | None) -> int:
    auth = {"Authorization": f"Bearer {token}".encode().decode("latin-1")} if token else {}
    return request(server, "/query", "POST", BODY, {**JSON, **auth})[0]


def start(own_maps: OwnMaps, *args: str, env: dict[str, str] | None = None) -> PhydevServer:
    server = PhydevServer(*args, bpf_dir=own_maps.bpf_dir, env=env)
    wait_for_page(server)  # wait_ready() polls /metrics, which needs the token
    return server


def test_a_token_from_a_file_guards_query_and_stays_out_of_cmdline(
    own_maps: OwnMaps, tmp_path: Path
) -> None:
    server = start(own_maps, "--auth-token-file", str(token_file(tmp_path)))
    try:
        assert query_status(server, None) == 401
        assert query_status(server, "wrong") == 401
        assert query_status(server, TOKEN) == 200
        cmdline = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert b"--auth-token-file" in cmdline
        assert TOKEN.encode() not in cmdline and b"file-t0ken" not in cmdline
        # What user nobody could see of it: the cmdline is world-readable, the file is not.
        assert os.stat(f"/proc/{server.proc.pid}/cmdline").st_mode & 0o004
        assert not os.stat(tmp_path / "token").st_mode & 0o044
    finally:
        _, output = server.stop()
    assert "warning" not in output, output


def test_the_command_line_form_works_and_warns(own_maps: OwnMaps) -> None:
    server = start(own_maps, "--auth-token", TOKEN)
    try:
        assert query_status(server, None) == 401 and query_status(server, TOKEN) == 200
    finally:
        _, output = server.stop()
    [line] = [line for line in output.splitlines() if "--auth-token" in line]
    assert line.startswith(WARNING) and "--auth-token-file" in line, output


def test_the_env_variables_need_no_warning(own_maps: OwnMaps, tmp_path: Path) -> None:
    for env in ({"DEVAGENT_AUTH_TOKEN": TOKEN},
                {"DEVAGENT_AUTH_TOKEN_FILE": str(token_file(tmp_path))}):  # fmt: skip
        server = start(own_maps, env=env)
        try:
            assert query_status(server, None) == 401 and query_status(server, TOKEN) == 200
        finally:
            _, output = server.stop()
        assert "warning" not in output, (env, output)


def test_a_file_every_user_can_read_is_used_with_a_warning(
    own_maps: OwnMaps, tmp_path: Path
) -> None:
    """Not refused, as ssh refuses such keys: Kubernetes mounts Secrets 0644 by default."""
    path = token_file(tmp_path, TOKEN + "\r\n", mode=0o644)
    server = start(own_maps, "--auth-token-file", str(path))
    try:
        assert query_status(server, TOKEN) == 200
    finally:
        _, output = server.stop()
    [line] = [line for line in output.splitlines() if "warning" in line]
    assert line == (f"phydev: warning: --auth-token-file {path}: every local user can read "
                    f"it (mode 0644): chmod o-rw {path}")  # fmt: skip


def refused(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """stderr of a `phydev server` that must refuse to start: one line, status 2, no port."""
    port = free_port()
    result = run_phydev("server", "--listen", "127.0.0.1", *args, check=False,
                        env={"PORT": str(port), **(env or {})})  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "serving on" not in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("phydev: ") and "Traceback" not in line, result.stderr
    return line


@pytest.mark.parametrize(
    ("content", "says"),
    [("", "empty: write the token in it"), ("\n", "empty"),
     ("one\ntwo\n", "more than one line"), (" padded\n", "white space"),
     ("tab\x00bed", "control characters"), ("x" * 5000, "longer than 4096 bytes")],
)  # fmt: skip
def test_unusable_token_files_are_refused(tmp_path: Path, content: str, says: str) -> None:
    path = token_file(tmp_path, content)
    line = refused(tmp_path, "--auth-token-file", str(path))
    assert line.startswith(f"phydev: --auth-token-file {path}: ") and says in line, line


def test_unreadable_paths_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    line = refused(tmp_path, "--auth-token-file", str(missing))
    assert line == f"phydev: --auth-token-file {missing}: cannot read it: No such file or directory"
    line = refused(tmp_path, "--auth-token-file", str(tmp_path))
    assert line == f"phydev: --auth-token-file {tmp_path}: cannot read it: Is a directory"
    line = refused(tmp_path, env={"DEVAGENT_AUTH_TOKEN_FILE": str(missing)})
    assert line.startswith(f"phydev: env DEVAGENT_AUTH_TOKEN_FILE {missing}: cannot read it")
    # A file its owner alone may read, for a user who is not its owner (root reads anything).
    secret = token_file(tmp_path, mode=0o600)
    tmp_path.chmod(0o755)
    result = run_phydev("top", "--agent", "http://127.0.0.1:9", "--count", "1",
                        "--auth-token-file", str(secret), check=False,
                        unprivileged="user")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"phydev: --auth-token-file {secret}: cannot read it: Permission denied"]  # fmt: skip


def test_a_token_given_two_ways_is_refused(tmp_path: Path) -> None:
    path = str(token_file(tmp_path))
    line = refused(tmp_path, "--auth-token", "x", "--auth-token-file", path)
    assert line == "phydev: --auth-token and --auth-token-file both give a token: keep one"
    line = refused(tmp_path, "--auth-token-file", path, env={"DEVAGENT_AUTH_TOKEN": "x"})
    assert line == ("phydev: env DEVAGENT_AUTH_TOKEN and --auth-token-file both give a token: "
                    "keep one")  # fmt: skip


def test_top_reads_the_token_from_a_file(own_maps: OwnMaps, tmp_path: Path) -> None:
    ascii_token = "top-t0ken"  # top sends headers through urllib, as latin-1: no "Ω"
    path = str(token_file(tmp_path, ascii_token + "\n"))
    server = start(own_maps, "--auth-token-file", path)
    try:
        for args, env in ((["--auth-token-file", path], {}),
                          ([], {"DEVAGENT_AUTH_TOKEN_FILE": path})):  # fmt: skip
            done = run_phydev("top", "--agent", server.url, "--count", "1", "--json", *args,
                              env=env, check=False)  # fmt: skip
            assert done.returncode == 0 and done.stderr == "", done.stderr
            assert "programs" in json.loads(done.stdout.splitlines()[0])
        done = run_phydev("top", "--agent", server.url, "--count", "1", "--json",
                          "--auth-token", ascii_token, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(WARNING) and len(done.stderr.splitlines()) == 1
        done = run_phydev("top", "--agent", server.url, "--count", "1", "--json",
                          "--auth-token", "x", "--auth-token-file", path, check=False)  # fmt: skip
        assert done.returncode == 2 and done.stderr.splitlines() == [
            "phydev: --auth-token and --auth-token-file both give a token: keep one"]  # fmt: skip
    finally:
        server.stop()
