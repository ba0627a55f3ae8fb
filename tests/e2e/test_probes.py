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


def test_readyz_fails_when_the_kernel_cannot_be_read(own_maps: OwnMaps) -> None:
    """Root without capabilities: the process is alive (/healthz 200) but cannot list eBPF
    objects, so /readyz answers 503 with the kernel's reason, and goes on answering."""
    server = PhydevServer(bpf_dir=own_maps.bpf_dir, unprivileged="nocaps")
    try:
        server.wait_ready(path="/healthz")
        for _ in range(2):
            status, _, body = request(server, "/readyz")
            assert status == 503
            text = body.decode()
            assert text.startswith("not ready: cannot list eBPF programs:"), text
            assert "CAP_BPF" in text
        status, _, body = request(server, "/healthz")
        assert (status, body) == (200, b"ok\n")
    finally:
        server.stop()
