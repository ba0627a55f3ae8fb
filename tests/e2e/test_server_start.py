"""`phydev server` at start: what it refuses or warns about before it serves, each said in one
line, and nothing ("serving on") said before a failure."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import PhydevServer, free_port, run_phydev
from tests.e2e.conftest import OwnMaps


@pytest.mark.parametrize(
    ("listen", "says"),
    [("", "must not be empty"), ("  ", "must not be empty"),
     ("not a host!", "is neither an IP address nor a host name"),
     ("1.2.3.4.5", "is neither an IP address nor a host name")],
)  # fmt: skip
def test_empty_or_invalid_listen_is_a_usage_error(listen: str, says: str) -> None:
    """`--listen ''` bound every interface, without the warning that goes with it."""
    result = run_phydev("server", "--listen", listen, check=False, env={"PORT": str(free_port())})
    assert result.returncode == 2 and says in result.stderr
    assert "serving on" not in result.stdout


def test_port_in_use_says_only_the_error(kernel: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_phydev("server", "--listen", "127.0.0.1", "--bpf_dir", "/",
                            check=False, env={"PORT": str(port)})  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"phydev: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_unresolvable_listen_says_only_the_error(kernel: None) -> None:
    result = run_phydev("server", "--listen", "no-such-host.invalid", check=False,
                        env={"PORT": str(free_port())})  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("phydev: cannot listen on no-such-host.invalid")


@pytest.mark.parametrize("who", ["nobody", "nocaps"])
def test_server_without_privileges_stops_at_start(kernel: None, who: str) -> None:
    """It used to start, then answer every request with 500 and a traceback."""
    port = free_port()
    result = run_phydev("server", "--listen", "127.0.0.1", check=False, unprivileged=who,
                        env={"PORT": str(port)})  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "lacks CAP_BPF and CAP_SYS_ADMIN" in lines[0], lines
    assert "CAP_BPF + CAP_SYS_ADMIN" in lines[0].split("lacks", 1)[1]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # never listened


def test_bpf_dir_without_bpffs_warns_once_at_start(own_maps: OwnMaps, tmp_path: Path) -> None:
    for bpf_dir, why in ((str(tmp_path / "gone"), "does not exist"),
                         (str(tmp_path), "is not on a bpf filesystem")):  # fmt: skip
        server = PhydevServer(bpf_dir=bpf_dir)
        try:
            server.wait_ready()
            server.get("/metrics")
        finally:
            code, output = server.stop()
        assert code == 0
        warnings = [line for line in output.splitlines() if "warning" in line]
        assert warnings == [f"phydev: warning: --bpf_dir {bpf_dir} {why}"
                            + (f" (mount one with: mount -t bpf bpf {bpf_dir})"
                               if why.startswith("is not") else "")
                            + ": no pins will be found and pinMap cannot pin there"]  # fmt: skip
    server = PhydevServer(bpf_dir=own_maps.bpf_dir)  # a real bpffs: no warning
    try:
        server.wait_ready()
    finally:
        _, output = server.stop()
    assert "warning" not in output


def test_closed_stdout_does_not_stop_the_server(own_maps: OwnMaps) -> None:
    """Output to a closed stdout is only the banner: the server itself must still run."""
    import os
    import subprocess
    import time
    import urllib.request

    port = free_port()
    exe = str(Path(sys.executable).parent / "phydev")
    proc = subprocess.Popen(
        [exe, "server", "--listen", "127.0.0.1", "--bpf_dir", own_maps.bpf_dir],
        env={**os.environ, "PORT": str(port)}, stdout=None, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_server_runs_on_uvloop(kernel: None, tmp_path: Path) -> None:
    """uvicorn's loop="auto" takes uvloop when it can be imported, and silently asyncio's own
    loop otherwise (~0.4 ms more per request, bench/NOTES.md): a dependency missing from the
    image or the venv would only show as a slower bench."""
    server = PhydevServer(bpf_dir=str(tmp_path))
    try:
        server.wait_ready(path="/healthz")
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    finally:
        server.stop()
    assert "/uvloop/loop." in maps
