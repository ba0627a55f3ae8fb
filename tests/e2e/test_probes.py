"""The probe endpoints Kubernetes (and `podman kube play`) use: /healthz says the process
answers, /readyz says the kernel's objects can be listed from where the agent runs. Both stay
open when a token guards /query and /metrics, because kubelet probes carry no token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PhydevServer
from tests.e2e.conftest import OwnMaps
from tests.e2e.test_graphql_safety import request

TOKEN = "probe-token"


@pytest.fixture(scope="module")
def guarded_agent(own_maps: OwnMaps) -> Iterator[PhydevServer]:
    server = PhydevServer("--auth-token", TOKEN, "--path-prefix", "/agent",
                          bpf_dir=own_maps.bpf_dir)  # fmt: skip
    try:
        server.wait_ready(path="/healthz")
        yield server
    finally:
        server.stop()


def test_probes_answer_without_the_token(guarded_agent: PhydevServer) -> None:
    for path in ("/healthz", "/readyz", "/agent/healthz", "/agent/readyz"):
        status, headers, body = request(guarded_agent, path)
        assert (status, body) == (200, b"ok\n"), path
        assert headers["content-type"].startswith("text/plain")
    status, _, _ = request(guarded_agent, "/metrics")
    assert status == 401  # the probes are open, the data is not


def test_readyz_fails_when_the_kernel_cannot_be_read() -> None:
    """An agent whose process has no capabilities (tests/e2e/readyz_child.py: the app under
    uvicorn after capset(2) emptied its sets; `phydev server` refuses to start that way) is
    alive (/healthz 200) but cannot list eBPF objects, so /readyz answers 503 with the
    kernel's reason, and goes on answering."""
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import ROOT, free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.e2e.readyz_child", str(port)],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                    assert resp.read() == b"ok\n"
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.1)
        for _ in range(2):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=5)
            except urllib.error.HTTPError as err:
                assert err.code == 503
                text = err.read().decode()
                assert text.startswith("not ready: cannot list eBPF programs:"), text
                assert "CAP_BPF" in text
            else:
                pytest.fail("/readyz answered 200 without capabilities")
    finally:
        proc.kill()
        proc.wait(10)
