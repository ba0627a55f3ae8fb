"""Owners gain where they run, tested with real processes in real cgroups.

Each process is a `sleep` that inherited an fd of a real program (so the kernel lists it as
an owner, as bpftool's "pids" does) and was moved into a cgroup v2 directory named as a
container runtime or systemd names its cgroups, under a parent this test makes and removes.
Pod names come from runtime state written in a private host root (`--host-root`), laid out
as containerd and cri-o lay it out on a node.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devagent.metrics.exporter import MetricsExporter
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.conftest import InspectFixture, PhydevServer, run_phydev
from tests.e2e.conftest import Placed
from tests.e2e.test_graphql_server import data


def _expected(p: Placed) -> dict[str, object]:
    return {"cgroup": p.cgroup, "systemdUnit": p.unit, "container": p.container, "pod": p.pod}


def test_show_names_where_each_owner_runs(placed: tuple[int, list[Placed], Path]) -> None:
    prog_id, procs, root = placed
    out = run_phydev("inspect", "progs", "show", str(prog_id), "--json", "--host-root", str(root))
    owners = {o["pid"]: o for o in json.loads(out.stdout)["owners"]}
    for p in procs:
        mine = owners[p.pid]
        assert mine["comm"] == "sleep" and isinstance(mine["fd"], int)
        assert {k: mine[k] for k in ("cgroup", "systemdUnit", "container", "pod")} == _expected(p)
    text = run_phydev("inspect", "progs", "show", str(prog_id), "--host-root", str(root)).stdout
    crio = next(p for p in procs if p.container and p.container["runtime"] == "cri-o")
    assert f"container=cri-o:{crio.container['id'][:12]}" in text  # type: ignore[index]
    assert f"pod=data/db-1 (uid {crio.pod['uid']})" in text  # type: ignore[index]


def test_without_runtime_state_pods_have_no_name(placed: tuple[int, list[Placed], Path]) -> None:
    """The default host root (/) holds no state for these made-up containers: the pod UID
    still comes from the cgroup path, its name and namespace stay null."""
    prog_id, procs, _ = placed
    out = run_phydev("inspect", "progs", "show", str(prog_id), "--json").stdout
    owners = {o["pid"]: o for o in json.loads(out)["owners"]}
    for p in procs:
        if p.pod is not None:
            assert owners[p.pid]["pod"] == {"uid": p.pod["uid"], "name": None, "namespace": None}


@pytest.fixture(scope="module")
def agent(
    placed: tuple[int, list[Placed], Path], inspect_fixture: InspectFixture
) -> Iterator[PhydevServer]:
    _, _, root = placed
    server = PhydevServer("--host-root", str(root), "--metrics-owner-labels",
                          bpf_dir=str(inspect_fixture.mount.path))  # fmt: skip
    server.wait_ready()
    yield server
    server.stop()


def test_graphql_owners(agent: PhydevServer, placed: tuple[int, list[Placed], Path]) -> None:
    prog_id, procs, _ = placed
    query = """query($id: Int!) { program(id: $id) { owners { pid comm cgroup systemdUnit
      container { id runtime } pod { uid name namespace } } } }"""
    owners = {o["pid"]: o for o in data(agent, query, {"id": prog_id})["program"]["owners"]}
    for p in procs:
        mine = owners[p.pid]
        assert {k: mine[k] for k in ("cgroup", "systemdUnit", "container", "pod")} == _expected(p)


def _samples(body: str, name: str) -> list[dict[str, str]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        s.labels
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == name
    ]


def test_owner_labels_in_metrics(
    agent: PhydevServer, placed: tuple[int, list[Placed], Path]
) -> None:
    """--metrics-owner-labels adds devagent_ebpf_prog_owner_info, one series per program and
    place; the contract's per-program gauges keep their four labels."""
    prog_id, procs, _ = placed
    body, _ = agent.get("/metrics")
    infos = [s for s in _samples(body, "devagent_ebpf_prog_owner_info") if s["id"] == str(prog_id)]
    for p in procs:
        want = {
            "comm": "sleep", "cgroup": p.cgroup, "systemd_unit": p.unit or "",
            "container_id": p.container["id"] if p.container else "",
            "container_runtime": p.container["runtime"] if p.container else "",
            "pod_uid": p.pod["uid"] if p.pod else "", "pod_name": (p.pod or {}).get("name") or "",
            "pod_namespace": (p.pod or {}).get("namespace") or "",
        }  # fmt: skip
        assert any(all(s.get(k) == v for k, v in want.items()) for s in infos), want
    for name in ("devagent_ebpf_prog_run_count", "devagent_ebpf_prog_run_time"):
        assert all(set(s) == {"id", "type", "tag", "name"} for s in _samples(body, name))
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                          text=True)  # fmt: skip
    assert "devagent_ebpf_prog_owner" not in lint.stdout + lint.stderr


def test_owner_labels_are_off_by_default(inspect_fixture: InspectFixture) -> None:
    settings = Settings(bpf_dir=str(inspect_fixture.mount.path))
    exporter = MetricsExporter(settings, Inventory(settings.bpf_dir))
    body, _ = exporter.render(None)
    assert b"devagent_ebpf_prog_run_count" in body
    assert b"devagent_ebpf_prog_owner_info" not in body
