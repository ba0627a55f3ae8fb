"""The agent's container image, run the ways the README says: the Go agent's command line as
written (privileged, published port), privileged with host networking, and least privilege
(capabilities, the host's bpffs, the host's PID namespace). Each way must show a program and
maps loaded on the host by the tests with the kernel's values, through /metrics and GraphQL.

The image is built once per session from this checkout (tests/container/conftest.py); the
objects are the frozen copy of the fixture program (counters that no longer move) and a map
the test process creates and holds, whose owner is this very process.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import bpftool_json, free_port
from tests.container.conftest import HELD_ENTRIES, HostObjects, RunContainer
from tests.podman import podman

# The first test of a fresh machine builds the base image (mmdebstrap: 30 s to 2 min) and
# the agent image (~35 s) in its setup.
pytestmark = pytest.mark.timeout(900)

QUERY = """query ($prog: Int!, $map: Int!, $held: Int!) {
  program(id: $prog) { id name type tag runCount runTime isPinned }
  map(id: $map) { id name type keySize valueSize maxEntries entriesCount isPinned }
  held: map(id: $held) { name entriesCount owners { pid } }
}"""


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def graphql(
    base: str, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json", **auth(token)}
    req = urllib.request.Request(base + "/query", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer: dict[str, Any] = json.load(resp)
    assert "errors" not in answer, answer
    return answer["data"]  # type: ignore[no-any-return]


def samples(
    base: str, token: str | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    req = urllib.request.Request(base + "/metrics", headers=auth(token))
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def assert_agent_sees_host_objects(
    base: str, objs: HostObjects, *, pinned: bool, token: str | None = None
) -> dict[str, Any]:
    """/metrics and GraphQL give the kernel's values (as bpftool reads them) for the host's
    program and map; returns the GraphQL answer for further checks."""
    prog = bpftool_json("prog", "show", "id", str(objs.prog_id))
    kmap = bpftool_json("map", "show", "id", str(objs.map_id))
    assert isinstance(prog, dict) and isinstance(kmap, dict)
    entries = bpftool_json("map", "dump", "id", str(objs.map_id))
    assert isinstance(entries, list) and entries

    ids = {"prog": objs.prog_id, "map": objs.map_id, "held": objs.held_id}
    got = graphql(base, QUERY, ids, token)
    p, m = got["program"], got["map"]
    assert (p["name"], p["type"], p["tag"]) == (prog["name"], "SocketFilter", prog["tag"])
    assert p["runCount"] == prog.get("run_cnt", 0) > 0
    assert p["runTime"] == pytest.approx(prog.get("run_time_ns", 0) / 1e9)
    assert (m["name"], m["type"], m["keySize"], m["valueSize"], m["maxEntries"]) == (
        kmap["name"], "PerCPUHash", kmap["bytes_key"], kmap["bytes_value"], kmap["max_entries"],
    )  # fmt: skip
    assert m["entriesCount"] == len(entries)
    assert (p["isPinned"], m["isPinned"]) == (pinned, pinned)
    assert (got["held"]["name"], got["held"]["entriesCount"]) == ("held_by_test", HELD_ENTRIES)

    metrics = samples(base, token)
    prog_labels = frozenset({"id": str(objs.prog_id), "name": prog["name"],
                             "type": "SocketFilter", "tag": prog["tag"]}.items())  # fmt: skip
    assert metrics[("devagent_ebpf_prog_run_count", prog_labels)] == prog.get("run_cnt", 0)
    map_labels = frozenset({"id": str(objs.map_id), "name": kmap["name"],
                            "type": "PerCPUHash"}.items())  # fmt: skip
    assert metrics[("devagent_ebpf_map_max_entries", map_labels)] == kmap["max_entries"]
    assert metrics[("devagent_ebpf_map_entries", map_labels)] == len(entries)
    return got


def owner_pids(answer: dict[str, Any]) -> set[int]:
    return {o["pid"] for o in answer["held"]["owners"]}


def test_image_is_slim_labelled_and_runs_phydev(agent_image: str) -> None:
    """ENTRYPOINT phydev, CMD server, PORT 8080, OCI labels; no compiler, pip or wheels left."""
    inspect = json.loads(podman("image", "inspect", agent_image).stdout)[0]
    config = inspect["Config"]
    assert (config["Entrypoint"], config["Cmd"]) == (["phydev"], ["server"])
    assert "PORT=8080" in config["Env"]
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "created", "licenses",
                "base.name"):  # fmt: skip
        assert labels.get(f"org.opencontainers.image.{key}") not in (None, "", "unknown"), key
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    look = podman("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", agent_image, "-c",
                  "for c in cc gcc clang c++ g++ make pip pip3; do command -v $c; done;"
                  "ls /tmp/wheels /opt/phydev/bin/pip 2>/dev/null; phydev --version")  # fmt: skip
    assert look.stdout == "phydev, version 0.1.0\n", look.stdout


def test_the_go_agents_command_line_works_as_written(
    agent_image: str, run_container: RunContainer, host_objects: HostObjects
) -> None:
    """`docker run -ti --rm --privileged -p 8080:8080 <image> server`, with podman, the host
    side of the port on 127.0.0.1 and a free port. No bpffs is mounted in, so nothing is pinned
    as far as the agent can tell; everything else is the kernel's."""
    port = free_port()
    c = run_container(agent_image, "-ti", "--privileged", "-p", f"127.0.0.1:{port}:8080")
    base = f"http://127.0.0.1:{port}"
    assert c.wait_http(base + "/readyz") == "ok\n"
    assert_agent_sees_host_objects(base, host_objects, pinned=False)
    assert "serving on http://0.0.0.0:8080/" in c.logs()


def test_privileged_with_host_network_and_port(
    agent_image: str, run_container: RunContainer, host_objects: HostObjects
) -> None:
    """Host networking, PORT honoured, the host's bpffs at the default --bpf_dir: pins show."""
    port = free_port()
    c = run_container(agent_image, "--privileged", "--network", "host",
                      "-v", f"{host_objects.bpffs}:/sys/fs/bpf", env={"PORT": str(port)},
                      command=("server", "--listen", "127.0.0.1"))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    assert c.wait_http(base + "/healthz") == "ok\n"
    assert c.wait_http(base + "/readyz") == "ok\n"
    answer = assert_agent_sees_host_objects(base, host_objects, pinned=True)
    assert os.getpid() not in owner_pids(answer)  # its own PID namespace hides ours


LEAST_PRIVILEGE = ("--cap-add", "BPF", "--cap-add", "PERFMON", "--cap-add", "SYS_ADMIN")


@pytest.mark.parametrize("ptrace", [True, False], ids=["with-SYS_PTRACE", "without-SYS_PTRACE"])
def test_least_privilege_sees_everything_and_host_owners(
    agent_image: str, run_container: RunContainer, host_objects: HostObjects, ptrace: bool
) -> None:
    """CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN instead of --privileged, the host's bpffs, and
    --pid host, so the processes holding objects are the host's (here: this test process).

    Which process holds an object is read from /proc/PID/fd and fdinfo, which the kernel
    shows only to a reader that may ptrace the process: one with fewer capabilities than the
    holder (here: the test, with all of them) needs CAP_SYS_PTRACE too. Without it everything
    but the owners is still there."""
    port = free_port()
    caps = (*LEAST_PRIVILEGE, "--cap-add", "SYS_PTRACE") if ptrace else LEAST_PRIVILEGE
    c = run_container(agent_image, *caps, "--pid", "host", "--network", "host",
                      "-v", f"{host_objects.bpffs}:/sys/fs/bpf", env={"PORT": str(port)},
                      command=("server", "--listen", "127.0.0.1"))  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    assert c.wait_http(base + "/readyz") == "ok\n"
    answer = assert_agent_sees_host_objects(base, host_objects, pinned=True)
    assert (os.getpid() in owner_pids(answer)) is ptrace


def test_without_the_capabilities_the_agent_says_so_and_stops(agent_image: str) -> None:
    """The same container without the added capabilities: the agent says in one line that
    it may not read eBPF objects and exits 1 before listening (an orchestrator shows the
    line and restarts it); it does not serve answers it cannot give."""
    port = free_port()
    done = podman("run", "--rm", "--network", "host", f"--env=PORT={port}", agent_image,
                  "server", "--listen", "127.0.0.1", check=False)  # fmt: skip
    assert done.returncode == 1, done
    assert "not allowed to read eBPF objects" in done.stderr + done.stdout
    assert "serving on" not in done.stdout
