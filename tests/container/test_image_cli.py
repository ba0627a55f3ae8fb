"""The README's CLI forms in the agent's container image, against the host's kernel objects:
`podman run ... IMAGE inspect progs|maps|links list [--json]` and `inspect features --json`,
run the least-privilege way the README gives (CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN, the
host's PID namespace and network, the host's bpffs at /sys/fs/bpf: here the frozen fixture's
mount). The fixtures' own objects must be there with the values the dev venv prints on the
host. (Host networking matters to links: an XDP link's interface is named by its ifindex in
the agent's own network namespace.)

The image is the session's (tests/container/conftest.py), built once.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest

from tests.conftest import LinkFixture, bpftool_json, run_phydev
from tests.container.conftest import HostObjects
from tests.install.helpers import (
    assert_same_object,
    assert_same_rows,
    assert_same_table,
    by_id,
)
from tests.podman import podman

# The first container test of a fresh machine builds the base and agent images in its setup.
pytestmark = pytest.mark.timeout(900)
LEAST_PRIVILEGE = ("--cap-add", "BPF", "--cap-add", "PERFMON", "--cap-add", "SYS_ADMIN",
                   "--pid", "host", "--network", "host")  # fmt: skip
IN_CONTAINER = "/sys/fs/bpf"


def in_image(image: str, objs: HostObjects, *args: str) -> str:
    """stdout of `podman run --rm <least privilege> -v BPFFS:/sys/fs/bpf IMAGE ARGS`."""
    name = f"devagent-test-cli-{uuid.uuid4().hex[:10]}"
    try:
        done = podman("run", "--rm", "--name", name, *LEAST_PRIVILEGE,
                      "-v", f"{objs.bpffs}:{IN_CONTAINER}", image, *args,
                      check=False, timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired:
        podman("rm", "--force", "--ignore", name, check=False)
        raise
    assert done.returncode == 0, f"{args} exited {done.returncode}: {done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def host_path(pins: list[str], objs: HostObjects) -> list[str]:
    """Pins the container shows under /sys/fs/bpf, as paths of the host's mount."""
    return [objs.bpffs + p.removeprefix(IN_CONTAINER) for p in pins]


def frozen_prog_ids(objs: HostObjects) -> set[int]:
    return set(objs.frozen.obj.prog_ids.values())


def frozen_map_ids(objs: HostObjects) -> set[int]:
    return set(objs.frozen.obj.map_ids.values())


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_progs_list(agent_image: str, host_objects: HostObjects, as_json: bool) -> None:
    """The frozen programs (their counters no longer move) as the host's dev venv lists them;
    count_packets as bpftool shows it, with the packets it counted."""
    args = ("inspect", "progs", "list", *(("--json",) if as_json else ()))
    ours = in_image(agent_image, host_objects, *args)
    ref = run_phydev(*args).stdout
    ids = frozen_prog_ids(host_objects)
    kernel = bpftool_json("prog", "show", "id", str(host_objects.prog_id))
    assert isinstance(kernel, dict)
    if not as_json:
        rows = assert_same_table(ours, ref, ids)
        assert rows[host_objects.prog_id][1:5] == [
            "count_packets", "SocketFilter", kernel["tag"], str(kernel["run_cnt"]),
        ]  # fmt: skip
        return
    mine = json.loads(ours)
    assert_same_rows(mine, json.loads(ref), ids)
    row = by_id(mine)[host_objects.prog_id]
    assert (row["name"], row["type"], row["tag"]) == ("count_packets", "SocketFilter",
                                                      kernel["tag"])  # fmt: skip
    assert row["runCount"] == kernel["run_cnt"] > 0
    assert row["mapIds"] == kernel["map_ids"]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_maps_list(agent_image: str, host_objects: HostObjects, as_json: bool) -> None:
    """The frozen maps, pinned in the host's bpffs that the container sees at /sys/fs/bpf,
    and the map only this test process holds (not pinned)."""
    args = ("inspect", "maps", "list", *(("--json",) if as_json else ()))
    ours = in_image(agent_image, host_objects, *args)
    ref = run_phydev(*args, "--bpf_dir", host_objects.bpffs).stdout
    ids = frozen_map_ids(host_objects) | {host_objects.held_id}
    if not as_json:
        rows = assert_same_table(ours, ref, ids)
        assert all(rows[i][4] == "true" for i in frozen_map_ids(host_objects))
        assert rows[host_objects.held_id][1:3] == ["held_by_test", "Hash"]
        assert rows[host_objects.held_id][4] == "false"
        return
    mine, theirs = by_id(json.loads(ours)), by_id(json.loads(ref))
    for map_id in ids:
        row = dict(mine[map_id])
        pins = row.pop("pins")
        assert host_path(pins, host_objects) == theirs[map_id].pop("pins")
        assert_same_object(row, theirs[map_id], frozen=True)
    at_pkts = mine[host_objects.map_id]
    assert at_pkts["pins"] == [f"{IN_CONTAINER}/frozen/maps/AT_pkts"]
    kernel = bpftool_json("map", "show", "id", str(host_objects.map_id))
    assert isinstance(kernel, dict)
    assert (at_pkts["name"], at_pkts["type"], at_pkts["maxEntries"]) == (
        kernel["name"], "PerCPUHash", kernel["max_entries"],
    )  # fmt: skip
    held = mine[host_objects.held_id]
    assert (held["name"], held["keySize"], held["valueSize"], held["maxEntries"]) == (
        "held_by_test", 4, 8, 16,
    )  # fmt: skip


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_links_list(
    agent_image: str, host_objects: HostObjects, link_fixture: LinkFixture, as_json: bool
) -> None:
    """The session's XDP and cgroup links (their pins are in another mount: none here)."""
    args = ("inspect", "links", "list", *(("--json",) if as_json else ()))
    ours = in_image(agent_image, host_objects, *args)
    ref = run_phydev(*args).stdout  # the host's /sys/fs/bpf holds no pin of them either
    ids = {link_fixture.xdp_link_id, link_fixture.cgroup_link_id}
    if not as_json:
        rows = assert_same_table(ours, ref, ids)
        assert f"devname={link_fixture.devname}" in rows[link_fixture.xdp_link_id][3]
        return
    mine = json.loads(ours)
    assert_same_rows(mine, json.loads(ref), ids)
    for link_id, kind in ((link_fixture.xdp_link_id, "XDP"),
                          (link_fixture.cgroup_link_id, "Cgroup")):  # fmt: skip
        kernel = bpftool_json("link", "show", "id", str(link_id))
        assert isinstance(kernel, dict)
        row = by_id(mine)[link_id]
        assert (row["type"], row["programId"], row["pins"]) == (kind, kernel["prog_id"], [])


def test_features_json(agent_image: str, host_objects: HostObjects) -> None:
    """Every probe the host's CLI makes, and with the README's capabilities the ones the
    listings and statistics need work in the container too."""
    ours: list[dict[str, Any]] = json.loads(
        in_image(agent_image, host_objects, "inspect", "features", "--json")
    )
    ref = json.loads(run_phydev("inspect", "features", "--json").stdout)
    assert [r["name"] for r in ours] == [r["name"] for r in ref]
    status = {r["name"]: r["status"] for r in ours}
    for name in ("bpf_syscall", "links", "run_stats", "enable_stats", "batch_lookup", "bpffs"):
        assert status[name] == "works", name
    bpffs = next(r for r in ours if r["name"] == "bpffs")
    assert IN_CONTAINER in bpffs["detail"]
