"""Where a process runs: its cgroup, systemd unit, container and Kubernetes pod.

Everything is read from the cgroup path the kernel gives for the process (/proc/PID/cgroup),
named the way each runtime names its cgroups:

| runtime    | systemd cgroup driver                 | cgroupfs driver                    |
|------------|---------------------------------------|------------------------------------|
| docker     | `docker-<id>.scope`                   | `/docker/<id>`                     |
| containerd | `cri-containerd-<id>.scope`           | `/kubepods/<qos>/pod<uid>/<id>`    |
| cri-o      | `crio-<id>.scope`                     | `/kubepods/<qos>/pod<uid>/crio-<id>` |
| podman     | `libpod-<id>.scope` (and `.../container`) | `/libpod_parent/libpod-<id>`   |

Kubernetes pods: `kubepods-<qos>-pod<uid with _>.slice` (systemd) or `pod<uid>` under
`kubepods` (cgroupfs). The pod's name and namespace are not in the cgroup path: they are read
from the runtime's state on the node, the OCI config of the container
(`io.kubernetes.cri.sandbox-name`/`-namespace` annotations of containerd,
`io.kubernetes.pod.name`/`.namespace` of cri-o, and the same labels of docker's container
config), under `host_root` (`/`, or where the host's root is mounted when the agent runs in a
container). They stay null when that state is not readable from the agent (e.g. it runs in a
container without the host's /run mounted).
"""

from __future__ import annotations

import glob
import json
import os
import re
import threading
from dataclasses import dataclass

from ..bpf.cgroups import process_cgroup

_ID = r"([0-9a-f]{64})"
# (runtime, pattern of one path component): the first matching component, innermost first.
_CONTAINER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docker", re.compile(rf"^docker-{_ID}\.scope$")),
    ("containerd", re.compile(rf"^cri-containerd-{_ID}\.scope$")),
    ("cri-o", re.compile(rf"^crio-{_ID}(?:\.scope)?$")),
    ("podman", re.compile(rf"^libpod-{_ID}(?:\.scope)?$")),
)
_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
_POD_SLICE = re.compile(rf"^kubepods(?:-[a-z]+)?-pod({_UID})\.slice$")
_POD_DIR = re.compile(rf"^pod({_UID})$")
_BARE_ID = re.compile(rf"^{_ID}$")
_UNIT = re.compile(r"^[^/]+\.(?:service|scope)$")

# Where runtimes keep each container's config (relative to the host root), and the keys that
# name its pod there.
_CONFIGS = (
    "run/containerd/io.containerd.runtime.v2.task/*/{id}/config.json",
    "run/containers/storage/overlay-containers/{id}/userdata/config.json",
    "var/lib/containers/storage/overlay-containers/{id}/userdata/config.json",
    "var/lib/docker/containers/{id}/config.v2.json",
)
_NAME_KEYS = ("io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name")
_NAMESPACE_KEYS = ("io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace")


@dataclass(frozen=True)
class Container:
    id: str
    runtime: str  # docker, containerd, cri-o, podman


@dataclass(frozen=True)
class Pod:
    uid: str
    name: str | None
    namespace: str | None


@dataclass(frozen=True)
class Workload:
    """Where one process runs; every part is None where it does not apply or is unknown."""

    cgroup: str | None
    systemd_unit: str | None
    container: Container | None
    pod: Pod | None


@dataclass(frozen=True)
class CgroupParts:
    """What the cgroup path alone says."""

    systemd_unit: str | None
    container: Container | None
    pod_uid: str | None


def classify_cgroup(path: str) -> CgroupParts:
    """The systemd unit (innermost .service/.scope), container and pod UID in a cgroup path."""
    parts = [p for p in path.split("/") if p]
    unit = next((p for p in reversed(parts) if _UNIT.match(p)), None)
    pod_uid = None
    pod_at = -1
    for i, part in enumerate(parts):
        m = _POD_SLICE.match(part)
        if m is None and any(p.startswith("kubepods") for p in parts[:i]):
            m = _POD_DIR.match(part)
        if m:
            pod_uid, pod_at = m.group(1).replace("_", "-"), i
    container = None
    for part in reversed(parts):
        for runtime, pattern in _CONTAINER_PATTERNS:
            if cm := pattern.match(part):
                container = Container(cm.group(1), runtime)
                break
        if container:
            break
    if container is None:
        for i in range(len(parts) - 1, 0, -1):
            if not _BARE_ID.match(parts[i]):
                continue
            if parts[i - 1] == "docker":
                container = Container(parts[i], "docker")
            elif pod_at >= 0 and i > pod_at:
                # cgroupfs driver of the kubelet: containerd writes the bare id (cri-o
                # prefixes it with crio-, matched above)
                container = Container(parts[i], "containerd")
            if container:
                break
    return CgroupParts(unit, container, pod_uid)


def _labels(doc: object) -> dict[str, str]:
    """Annotations of an OCI config.json, or labels of docker's config.v2.json."""
    if not isinstance(doc, dict):
        return {}
    found = doc.get("annotations")
    if not isinstance(found, dict):
        config = doc.get("Config")
        found = config.get("Labels") if isinstance(config, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def pod_name_of(container_id: str, host_root: str = "/") -> tuple[str | None, str | None]:
    """(name, namespace) of the pod a container belongs to, from its runtime's state on the
    node; (None, None) when not found or not readable."""
    for pattern in _CONFIGS:
        for path in glob.glob(os.path.join(host_root, pattern.format(id=container_id))):
            try:
                with open(path, "rb") as f:
                    labels = _labels(json.load(f))
            except (OSError, ValueError):
                continue
            name = next((labels[k] for k in _NAME_KEYS if k in labels), None)
            namespace = next((labels[k] for k in _NAMESPACE_KEYS if k in labels), None)
            if name or namespace:
                return name, namespace
    return None, None


class WorkloadResolver:
    """Workloads of processes, each process and container looked up once (one per snapshot:
    processes move between cgroups, and pods come and go)."""

    def __init__(self, host_root: str = "/") -> None:
        self.host_root = host_root
        self._lock = threading.Lock()
        self._by_pid: dict[int, Workload] = {}
        self._pods: dict[str, tuple[str | None, str | None]] = {}

    def of_pid(self, pid: int) -> Workload:
        """Where process `pid` runs (all None if it is gone)."""
        with self._lock:
            known = self._by_pid.get(pid)
        if known is not None:
            return known
        path = process_cgroup(pid)
        if path is None:
            found = Workload(None, None, None, None)
        else:
            parts = classify_cgroup(path)
            pod = None
            if parts.pod_uid is not None:
                name, namespace = (None, None)
                if parts.container is not None:
                    name, namespace = self._pod_name(parts.container.id)
                pod = Pod(parts.pod_uid, name, namespace)
            found = Workload(path, parts.systemd_unit, parts.container, pod)
        with self._lock:
            self._by_pid[pid] = found
        return found

    def _pod_name(self, container_id: str) -> tuple[str | None, str | None]:
        with self._lock:
            known = self._pods.get(container_id)
        if known is None:
            known = pod_name_of(container_id, self.host_root)
            with self._lock:
                self._pods[container_id] = known
        return known
