"""An id that names no object reads the same everywhere (issue 22, item 5): "program N not
found", "map N not found", "link N not found", from every CLI command that takes an id and
from every GraphQL field and mutation that does (CONTRACT.md asks only that GraphQL's
message mention "not found"; this one sentence is what each says)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devagent.bpf.errors import NotFound, not_found
from devagent.bpf.handles import iter_link_ids, iter_map_ids, iter_program_ids
from tests.conftest import PhydevServer, require_kernel, run_phydev
from tests.e2e.test_graphql_server import post

# Far above the ids this machine hands out (they count up from 1), within GraphQL's Int.
MISSING = 2_000_000_000


@pytest.fixture(scope="module")
def missing_id() -> int:
    require_kernel()
    used = {*iter_program_ids(), *iter_map_ids(), *iter_link_ids()}
    assert MISSING not in used
    return MISSING


def test_the_helper_says_the_sentence() -> None:
    for kind in ("program", "map", "link"):
        error = not_found(kind, 12)
        assert isinstance(error, NotFound) and str(error) == f"{kind} 12 not found"
    # What the kernel layer raises when an open by id fails reads the same.
    assert str(NotFound(2, "MAP_GET_FD_BY_ID", "map 9")) == "map 9 not found"
    assert str(NotFound(2, "MAP_LOOKUP_ELEM", "map 9")) == "map 9: MAP_LOOKUP_ELEM: no such key"


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("progs", "show"), "program"),
        (("maps", "show"), "map"),
        (("links", "show"), "link"),
        (("progs", "dump"), "program"),
        (("maps", "dump"), "map"),
        (("progs", "run", "--data-in", "{packet}"), "program"),
    ],
)
def test_cli(missing_id: int, args: tuple[str, ...], kind: str, tmp_path: Path) -> None:
    packet = tmp_path / "packet"
    packet.write_bytes(bytes(64))
    argv = [a.format(packet=packet) for a in args]
    result = run_phydev("inspect", *argv, str(missing_id), check=False)
    assert result.returncode == 1, result
    assert result.stderr == f"phydev: {kind} {missing_id} not found\n"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhydevServer]:
    require_kernel()
    server = PhydevServer("--allow-writes", bpf_dir=str(tmp_path_factory.mktemp("bpffs-none")))
    server.wait_ready()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("{ program(id: ID) { id } }", "program"),
        ("{ map(id: ID) { id } }", "map"),
        ("{ link(id: ID) { id } }", "link"),
        ("{ connectedGraph(from: ID, fromType: PROGRAM) { maps { id } } }", "program"),
        ("{ connectedGraph(from: ID, fromType: MAP) { maps { id } } }", "map"),
    ],
)
def test_graphql_queries(agent: PhydevServer, missing_id: int, query: str, kind: str) -> None:
    status, body = post(agent, query.replace("ID", str(missing_id)))
    assert status == 200 and body["data"] is None, body
    assert [e["message"] for e in body["errors"]] == [f"{kind} {missing_id} not found"]


@pytest.mark.parametrize(
    ("mutation", "kind"),
    [
        ('updateMapValue(mapId: ID, key: "00", value: "00", keyFormat: HEX, valueFormat: HEX)',
         "map"),
        ('createMapValue(mapId: ID, key: "00", values: ["00"], keyFormat: HEX, valueFormat: HEX)',
         "map"),
        ('deleteMapValues(mapId: ID, keys: ["00"], keyFormat: HEX)', "map"),
        ('pinMap(id: ID, path: "BPFFS/nf_pin")', "map"),
        ('testRun(programId: ID, dataIn: "00")', "program"),
    ],
)  # fmt: skip
def test_graphql_mutations(agent: PhydevServer, missing_id: int, mutation: str, kind: str) -> None:
    """Mutations report failures in their `error` field (CONTRACT.md), with the same text."""
    bpf_dir = agent.proc.args[agent.proc.args.index("--bpf_dir") + 1]  # type: ignore[union-attr]
    text = mutation.replace("ID", str(missing_id)).replace("BPFFS", str(bpf_dir))
    name = text.split("(")[0]
    status, body = post(agent, f"mutation {{ {text} {{ error }} }}")
    assert status == 200 and "errors" not in body, body
    assert body["data"][name]["error"] == f"{kind} {missing_id} not found"
