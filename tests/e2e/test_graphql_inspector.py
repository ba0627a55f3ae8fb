"""The program inspector's GraphQL fields against a real `phydev server`: full names,
metadata, instructions, and (with --allow-writes) test runs; values checked against bpftool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import InspectFixture, PhydevServer, bpftool_json, without_package
from tests.e2e.test_graphql_server import data, post


@pytest.fixture(scope="module")
def agent(inspect_fixture: InspectFixture) -> Iterator[PhydevServer]:
    server = PhydevServer("--allow-writes", bpf_dir=str(inspect_fixture.mount.path))
    server.wait_ready()
    yield server
    server.stop()


def test_full_names_and_metadata(agent: PhydevServer, inspect_fixture: InspectFixture) -> None:
    query = "{ programs { id name fullName metadata { key value } } }"
    progs = {p["id"]: p for p in data(agent, query)["programs"]}
    for prog_id in inspect_fixture.obj.prog_ids.values():
        ref = bpftool_json("prog", "show", "id", str(prog_id))
        assert isinstance(ref, dict)
        mine = progs[prog_id]
        assert mine["fullName"] == ref["name"]
        assert mine["metadata"] == [
            {"key": k, "value": v if isinstance(v, str) else json.dumps(v)}
            for k, v in ref["metadata"].items()
        ]
    long_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    assert progs[long_id]["name"] == "inspect_socket_"
    assert progs[long_id]["fullName"] == "inspect_socket_filter_with_a_long_name"


def gql(agent: PhydevServer, query: str, **variables: Any) -> dict[str, Any]:
    status, body = post(agent, query, variables)
    assert status == 200, body
    return body


INSTRUCTIONS = """query($id: Int!, $kind: InstructionKind) { program(id: $id) {
  instructions(kind: $kind) { offset text opcode operands bytes function symbol functionOffset
    source file line column map { id name } mapValueOffset callee target } } }"""


def test_xlated_instructions_are_bpftools(
    agent: PhydevServer, inspect_fixture: InspectFixture
) -> None:
    prog_id = inspect_fixture.prog_id("inspect_socket_filter_with_a_long_name")
    insns = data(agent, INSTRUCTIONS, {"id": prog_id})["program"]["instructions"]
    ref = bpftool_json("prog", "dump", "xlated", "id", str(prog_id), "linum")
    assert isinstance(ref, list) and len(insns) == len(ref)
    maps = {m["id"]: m["name"] for m in bpftool_json("map", "show")}  # type: ignore[union-attr]
    for mine, theirs in zip(insns, ref, strict=True):
        assert mine["text"] == theirs["disasm"]
        assert f"({mine['opcode']}) {mine['operands']}" == mine["text"]
        assert mine["function"] == theirs.get("proto")
        assert (mine["source"], mine["file"], mine["line"]) == (
            theirs.get("src"),
            theirs.get("file"),
            theirs.get("line_num"),
        )
        assert len(bytes.fromhex(mine["bytes"])) == (16 if mine["opcode"] == "18" else 8)
        if mine["map"] is not None:
            assert mine["map"]["name"] == maps[mine["map"]["id"]]
            assert f"map[id:{mine['map']['id']}]" in mine["text"]
    offsets = [x["offset"] for x in insns]
    assert offsets == sorted(offsets) and offsets[0] == 0
    by_offset = {x["offset"]: x for x in insns}
    calls = [x for x in insns if x["text"].startswith("(85) call pc")]
    assert calls and all(by_offset[c["target"]]["function"] for c in calls)
    assert any(x["mapValueOffset"] is not None for x in insns)


def test_jited_instructions_cover_the_image(
    agent: PhydevServer, inspect_fixture: InspectFixture
) -> None:
    from devagent.bpf.prog_code import get_program_code

    prog_id = inspect_fixture.prog_id("inspect_xdp")
    insns = data(agent, INSTRUCTIONS, {"id": prog_id, "kind": "JITED"})["program"]["instructions"]
    code = get_program_code(prog_id)
    assert b"".join(bytes.fromhex(x["bytes"]) for x in insns) == code.jited
    heads = [x for x in insns if x["functionOffset"] == 0]
    assert len(heads) == len(code.jited_func_lens) == 2
    assert heads[0]["symbol"] == f"bpf_prog_{code.tag}_inspect_xdp"
    assert heads[1]["function"] == "int loop_step(__u32 index, void * data)"
    assert all(x["text"].startswith(x["opcode"]) for x in insns)


def test_unknown_program_and_missing_capstone_are_clear_errors(
    agent: PhydevServer, inspect_fixture: InspectFixture, tmp_path: Any
) -> None:
    body = gql(agent, INSTRUCTIONS, id=999_999_999)
    assert "not found" in body["errors"][0]["message"]
    assert "Traceback" not in agent.output()  # a client's mistake is not a server fault
    env = without_package("capstone", tmp_path)
    server = PhydevServer(bpf_dir=str(inspect_fixture.mount.path), env=env)
    try:
        server.wait_ready()
        prog_id = inspect_fixture.prog_id("inspect_tc")
        body = gql(server, INSTRUCTIONS, id=prog_id, kind="JITED")
        assert "capstone" in body["errors"][0]["message"]
        assert "pip install" in body["errors"][0]["message"]
        assert data(server, INSTRUCTIONS, {"id": prog_id})["program"]["instructions"]
        assert "Traceback" not in server.output()
    finally:
        server.stop()


TEST_RUN = """mutation($id: Int!, $data: String!, $repeat: Int) {
  testRun(programId: $id, dataIn: $data, repeat: $repeat) { retval durationNs dataOut error } }"""


def test_test_run_equals_bpftool(
    agent: PhydevServer, inspect_fixture: InspectFixture, tmp_path: Any
) -> None:
    from tests.kernel.test_replay import bpftool_run, udp_packet

    packet = udp_packet(b"graphql")
    (tmp_path / "in.bin").write_bytes(packet)
    for name in ("inspect_xdp", "inspect_socket_filter_with_a_long_name"):
        prog_id = inspect_fixture.prog_id(name)
        run = data(agent, TEST_RUN, {"id": prog_id, "data": packet.hex(), "repeat": 4})
        retval, out = bpftool_run(prog_id, tmp_path / "in.bin", tmp_path / "out.bin", 4)
        result = run["testRun"]
        assert result["error"] is None
        assert result["retval"] % (1 << 32) == retval
        assert bytes.fromhex(result["dataOut"]) == out
        assert result["durationNs"] >= 0
    # a run moves the program's run count, and the next read sees it at once
    prog_id = inspect_fixture.prog_id("inspect_xdp")
    query = "query($id: Int!) { program(id: $id) { runCount } }"
    before = data(agent, query, {"id": prog_id})["program"]["runCount"]
    data(agent, TEST_RUN, {"id": prog_id, "data": packet.hex(), "repeat": 10})
    assert data(agent, query, {"id": prog_id})["program"]["runCount"] == before + 10


def test_test_run_refusals(agent: PhydevServer, inspect_fixture: InspectFixture) -> None:
    from tests.kernel.test_replay import udp_packet

    packet = udp_packet().hex()
    xdp = inspect_fixture.prog_id("inspect_xdp")
    cases = [
        ({"id": xdp, "data": "zz"}, "dataIn must be hex"),
        ({"id": xdp, "data": packet, "repeat": 0}, "repeat must be between 1 and"),
        ({"id": xdp, "data": "0102"}, "refused the input of 2 bytes"),
        ({"id": inspect_fixture.prog_id("inspect_tracepoint"), "data": packet},
         "cannot test-run this program type"),
        ({"id": 999_999_999, "data": packet}, "program 999999999 not found"),
    ]  # fmt: skip
    for variables, message in cases:
        result = data(agent, TEST_RUN, variables)["testRun"]
        assert message in result["error"], (variables, result)
        assert result["retval"] is None


def test_test_run_needs_allow_writes(inspect_fixture: InspectFixture) -> None:
    from tests.kernel.test_replay import udp_packet

    server = PhydevServer(bpf_dir=str(inspect_fixture.mount.path))
    try:
        server.wait_ready()
        prog_id = inspect_fixture.prog_id("inspect_xdp")

        def run_count() -> int:
            info = bpftool_json("prog", "show", "id", str(prog_id))
            assert isinstance(info, dict)
            return int(info.get("run_cnt", 0))

        before = run_count()
        result = data(server, TEST_RUN, {"id": prog_id, "data": udp_packet().hex()})["testRun"]
        assert "--allow-writes" in result["error"] and result["dataOut"] is None
        assert run_count() == before  # the kernel did not run it
    finally:
        server.stop()
