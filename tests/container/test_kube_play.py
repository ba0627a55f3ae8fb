"""The DaemonSet's pod, as kustomize renders it, really run with `podman kube play` from the
image built by this session: capabilities, read-only root, bpffs and BTF mounts, the token
from a Secret, probes answering, /metrics with the kernel's values, RSS within the request.

What the test changes in the pod, and why (everything else is the rendered manifest):
- the image: the one this session built;
- the Secret: a podman secret with a per-test name (podman 4.3 reads secretKeyRef from its own
  secret store, as a JSON map of base64 values) holding a test token;
- NODE_NAME: a literal, because podman 4.3 cannot fill `fieldRef: spec.nodeName`;
- a hostPort on 127.0.0.1 for the metrics port, so the test reaches the pod (a cluster's
  Prometheus reaches the pod IP);
- the bpffs hostPath: the tests' private bpffs (this host has none at /sys/fs/bpf).
Podman 4.3 also ignores `hostPID` (the pod gets its own PID namespace: owners are checked
with `podman run --pid host` in test_image.py) and runs liveness probes only from systemd
timers, absent here; so the probe endpoints are called from outside, as kubelet does.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port
from tests.container.conftest import HostObjects
from tests.container.test_image import assert_agent_sees_host_objects
from tests.kubernetes.test_manifests import render_kustomization
from tests.podman import Container, podman

# The first test of a fresh machine builds the base image (mmdebstrap: 30 s to 2 min) and
# the agent image (~35 s) in its setup.
pytestmark = pytest.mark.timeout(900)

TOKEN = "kube-play-token"
# capability bits (linux/capability.h)
CAPS = {"SYS_PTRACE": 19, "SYS_ADMIN": 21, "PERFMON": 38, "BPF": 39}


def memory_quantity(text: str) -> int:
    """A Kubernetes memory quantity in bytes (only the binary suffixes the manifest uses)."""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(text.removesuffix(suffix)) * factor
    return int(text)


def daemonset_pod(image: str, port: int, bpffs: str, secret: str) -> dict[str, Any]:
    """The DaemonSet's pod template as a Pod, with the changes listed in the docstring."""
    [ds] = [d for d in render_kustomization() if d["kind"] == "DaemonSet"]
    template = ds["spec"]["template"]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"devagent-test-{uuid.uuid4().hex[:8]}",
                     "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }  # fmt: skip
    [container] = pod["spec"]["containers"]
    container["image"] = image
    container["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
    for env in container["env"]:
        if env["name"] == "DEVAGENT_AUTH_TOKEN":
            env["valueFrom"]["secretKeyRef"]["name"] = secret
        if env["name"] == "NODE_NAME":
            del env["valueFrom"]
            env["value"] = socket.gethostname()
    for volume in pod["spec"]["volumes"]:
        if volume.get("hostPath", {}).get("path") == "/sys/fs/bpf":
            volume["hostPath"]["path"] = bpffs
    return pod


@pytest.fixture
def played(
    agent_image: str, host_objects: HostObjects, tmp_path: Path
) -> Iterator[tuple[dict[str, Any], str]]:
    """(the pod as played, its base URL); the pod and the secret are removed afterwards."""
    secret = f"devagent-auth-{uuid.uuid4().hex[:8]}"
    token = base64.b64encode(TOKEN.encode()).decode()
    secret_file = tmp_path / "secret.json"
    secret_file.write_text(json.dumps({"token": token}))
    podman("secret", "create", secret, str(secret_file))
    port = free_port()
    pod = daemonset_pod(agent_image, port, host_objects.bpffs, secret)
    kube = tmp_path / "pod.yaml"
    kube.write_text(yaml.safe_dump(pod))
    try:
        done = podman("kube", "play", str(kube), check=False)
        assert done.returncode == 0, done.stderr
        yield pod, f"http://127.0.0.1:{port}"
    finally:
        podman("pod", "rm", "--force", "--time", "2", pod["metadata"]["name"], check=False)
        podman("secret", "rm", secret, check=False)


def test_daemonset_pod_serves_metrics_with_least_privilege(
    played: tuple[dict[str, Any], str], host_objects: HostObjects
) -> None:
    pod, base = played
    container = Container(f"{pod['metadata']['name']}-phydev")
    # Probes need no token; the data does.
    assert container.wait_http(base + "/healthz") == "ok\n"
    assert container.wait_http(base + "/readyz") == "ok\n"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(base + "/metrics", timeout=10)
    assert refused.value.code == 401
    assert_agent_sees_host_objects(base, host_objects, pinned=True, token=TOKEN)

    # The security context as applied: exactly the four capabilities, read-only root, the
    # node's BTF mounted read-only, not privileged.
    info = json.loads(podman("inspect", container.name).stdout)[0]
    host = info["HostConfig"]
    assert host["Privileged"] is False and host["ReadonlyRootfs"] is True
    assert any(b.startswith("/sys/kernel/btf:/sys/kernel/btf:ro") for b in host["Binds"])
    status = Path(f"/proc/{info['State']['Pid']}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    effective = int(fields["CapEff"], 16)
    assert effective == sum(1 << bit for bit in CAPS.values()), hex(effective)
    assert container.exec("test", "-r", "/sys/kernel/btf/vmlinux").returncode == 0
    assert container.exec("sh", "-c", "echo x > /opt/x").returncode != 0

    # Memory: what the agent holds after serving stays within the manifest's request.
    rss = int(fields["VmRSS"].split()[0]) * 1024
    request = pod["spec"]["containers"][0]["resources"]["requests"]["memory"]
    print(f"phydev RSS in the DaemonSet pod after serving: {rss / 2**20:.1f} MiB")
    assert rss < memory_quantity(request)
    env = container.exec("sh", "-c", "echo $NODE_NAME $PORT").stdout.split()
    assert env == [socket.gethostname(), "8080"]
