"""Issue 15's identity in a real container: a process in a podman container (started from
the agent image) holds a program fd; the agent on the host names the container and its
runtime for that owner, in the model, the CLI and GraphQL."""

from __future__ import annotations

import json
import time

from devagent.model.snapshot import take_snapshot
from tests.conftest import run_phydev
from tests.container.conftest import RunContainer
from tests.podman import podman

# Loads a socket filter through the image's own devagent and keeps its fd while it sleeps.
HOLDER = (
    "from devagent.bpf.names import PROG_TYPE_IDS\n"
    "from devagent.bpf.objects import program_info\n"
    "from devagent.bpf.progs import load_program, return_imm\n"
    "import time\n"
    "fd = load_program(PROG_TYPE_IDS['SocketFilter'], return_imm(0), name='in_container')\n"
    "print(program_info(fd).id, flush=True)\n"
    "time.sleep(300)\n"
)


def test_a_program_held_in_a_container_names_the_container(
    agent_image: str, run_container: RunContainer
) -> None:
    container = run_container(
        agent_image, "--privileged", "--entrypoint", "/opt/phydev/bin/python",
        command=("-c", HOLDER),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not container.logs().strip() and time.monotonic() < deadline:
        time.sleep(0.2)
    prog_id = int(container.logs().split()[0])
    full_id = podman("inspect", "--format", "{{.Id}}", container.name).stdout.strip()
    snap = take_snapshot("/sys/fs/bpf")
    owners = snap.owners("program", prog_id)
    assert owners, f"no owner found for program {prog_id}"
    workload = snap.workload(owners[0].pid)
    assert workload.container is not None, workload
    assert workload.container.runtime == "podman"
    assert workload.container.id == full_id
    shown = json.loads(run_phydev("inspect", "progs", "show", str(prog_id), "--json").stdout)
    assert [o["container"] for o in shown["owners"]] == [{"id": full_id, "runtime": "podman"}]
