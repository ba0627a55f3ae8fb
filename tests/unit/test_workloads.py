"""Cgroup paths as runtimes name them, read into unit, container and pod (model.workloads).
The same patterns are exercised with real processes in tests/e2e/test_owners.py; these are
the forms that test does not place a process in."""

from __future__ import annotations

from devagent.model.workloads import Container, classify_cgroup

CID = "0123456789abcdef" * 4
UID = "6f1d6c4e-2b1a-4c5d-9e8f-0a1b2c3d4e5f"


def test_podman_cgroupfs_and_monitors() -> None:
    parts = classify_cgroup(f"/libpod_parent/libpod-{CID}")
    assert parts.container == Container(CID, "podman") and parts.systemd_unit is None
    # conmon, the runtimes' monitor processes, are not the container
    for path in (
        f"/machine.slice/libpod-conmon-{CID}.scope",
        f"/system.slice/crio-conmon-{CID}.scope",
    ):
        parts = classify_cgroup(path)
        assert parts.container is None and parts.systemd_unit == path.rsplit("/", 1)[1]


def test_crio_cgroupfs_and_guaranteed_pods() -> None:
    parts = classify_cgroup(f"/kubepods/pod{UID}/crio-{CID}")
    assert parts.container == Container(CID, "cri-o") and parts.pod_uid == UID
    parts = classify_cgroup(f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/"
                            f"cri-containerd-{CID}.scope")  # fmt: skip
    assert parts.container == Container(CID, "containerd") and parts.pod_uid == UID


def test_plain_paths() -> None:
    user = "/user.slice/user-1000.slice/user@1000.service/app.slice/editor.service"
    assert classify_cgroup(user).systemd_unit == "editor.service"
    for path in ("/", "/system.slice", f"/elsewhere/{CID}", f"/pod{UID}/{CID}"):
        parts = classify_cgroup(path)
        assert parts.container is None and parts.pod_uid is None, path
