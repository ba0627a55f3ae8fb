"""The explorer's operations (CONTRACT.md "The real client's operations") against a real
`phydev server` process, with every value checked against bpftool's view of the same objects."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    LinkFixture,
    PacketFixture,
    PhydevServer,
    bpftool_by_id,
    bpftool_json,
    run_phydev,
    stable_ids,
)
from tests.e2e.conftest import OwnMaps
from tests.kernel.test_inspect import MAP_TYPE, PROG_TYPE

CACHE_AGE = 1.1
NAVIGATION = """query Navigation {
  programs { id error name type tag runTime runCount btfId }
  maps { id error name type flags isPinned keySize valueSize maxEntries }
}"""
GET_PROGRAM = """query GetProgram($programId: Int!) {
  program(id: $programId) {
    id name type tag runTime runCount btfId maps { id name type } error
    tasks { pid fd type name probeOffset probeAddr }
  }
}"""
GET_MAP = """query GetMap($mapId: Int!) {
  map(id: $mapId) {
    id error name type flags isPinned pins keySize valueSize maxEntries entriesCount isPerCPU
    isLookupSupported programs { id name type }
  }
}"""
GET_MAP_ENTRIES = """query GetMapEntries($mapId: Int!, $offset: Int, $limit: Int,
    $keyFormat: MapEntryFormat, $valueFormat: MapEntryFormat) {
  map(id: $mapId) {
    isPerCPU
    entries(offset: $offset, limit: $limit, keyFormat: $keyFormat, valueFormat: $valueFormat) {
      key value cpuValues
    }
    entriesCount
  }
}"""
CONNECTED_GRAPH = """query ConnectedGraph($id: Int!, $type: IdType!) {
  connectedGraph(from: $id, fromType: $type) {
    programs { id type name maps { id } }
    maps { id type name }
  }
}"""


def post(
    server: PhydevServer,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/query",
) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(
        server.url + path,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def data(server: PhydevServer, query: str, variables: dict[str, Any] | None = None) -> Any:
    status, body = post(server, query, variables)
    assert status == 200 and "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def agent(packet_fixture: PacketFixture, link_fixture: LinkFixture) -> Iterator[PhydevServer]:
    """A read-only agent over the shared fixture, started after every object exists."""
    server = PhydevServer(bpf_dir=packet_fixture.bpf_dir)
    server.wait_ready()
    yield server
    server.stop()


def test_navigation_matches_bpftool(agent: PhydevServer, packet_fixture: PacketFixture) -> None:
    before = bpftool_by_id("prog"), bpftool_by_id("map")
    nav = data(agent, NAVIGATION)
    after: tuple[dict[int, Any], dict[int, Any]] = bpftool_by_id("prog"), bpftool_by_id("map")
    progs = {p["id"]: p for p in nav["programs"]}
    for prog_id in stable_ids(progs, before[0], after[0], packet_fixture.obj.prog_ids.values()):
        ref, mine = after[0][prog_id], progs[prog_id]
        assert (mine["name"], mine["type"], mine["tag"]) == (
            ref.get("name", "")[:15], PROG_TYPE[ref["type"]], ref["tag"],
        )  # fmt: skip
        assert mine["error"] is None and mine["btfId"] == ref.get("btf_id", 0)
        assert isinstance(mine["runCount"], int) and isinstance(mine["runTime"], float)
    maps = {m["id"]: m for m in nav["maps"]}
    pinned = set(packet_fixture.obj.map_ids.values())
    for map_id in stable_ids(maps, before[1], after[1], pinned):
        ref, mine = after[1][map_id], maps[map_id]
        assert mine["name"] == ref.get("name", "") and mine["type"] == MAP_TYPE[ref["type"]]
        assert (mine["flags"], mine["keySize"], mine["valueSize"], mine["maxEntries"]) == (
            ref["flags"], ref["bytes_key"], ref["bytes_value"], ref["max_entries"],
        )  # fmt: skip
        assert mine["isPinned"] == (ref["id"] in pinned)


def test_get_program(agent: PhydevServer, packet_fixture: PacketFixture) -> None:
    prog_id = packet_fixture.obj.prog_ids["count_packets"]
    prog = data(agent, GET_PROGRAM, {"programId": prog_id})["program"]
    ref = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(ref, dict)
    assert prog["id"] == prog_id and prog["tag"] == ref["tag"] and prog["type"] == "SocketFilter"
    assert [m["id"] for m in prog["maps"]] == ref["map_ids"]
    names = {m["id"]: m["name"] for m in prog["maps"]}
    assert names[packet_fixture.obj.map_ids["AT_pkts"]] == "AT_pkts"
    assert prog["tasks"] == []  # no kprobes/tracepoints on this kernel
    assert prog["runCount"] > 0 and prog["runTime"] > 0


def test_btf_id_is_zero_without_btf(agent: PhydevServer) -> None:
    """A program or map without BTF answers btfId 0, as the Go agent does (null left the
    explorer's column blank); the CLI's JSON says the same."""
    from devagent.bpf.maps import create_map
    from devagent.bpf.names import MAP_TYPE_IDS
    from devagent.bpf.objects import map_info, program_info
    from devagent.bpf.progs import load_program, return_imm

    with (
        load_program(1, return_imm(0), name="t_no_btf") as prog,
        create_map(MAP_TYPE_IDS["Hash"], 4, 4, 1, name="t_no_btf") as map_fd,
    ):
        prog_id, map_id = program_info(prog).id, map_info(map_fd).id
        time.sleep(CACHE_AGE)  # the agent's snapshot is at most this old
        query = f"{{ program(id: {prog_id}) {{ btfId }} map(id: {map_id}) {{ btfId }} }}"
        assert data(agent, query) == {"program": {"btfId": 0}, "map": {"btfId": 0}}
        nav = data(agent, NAVIGATION)
        assert [p["btfId"] for p in nav["programs"] if p["id"] == prog_id] == [0]
        listed = json.loads(run_phydev("inspect", "progs", "list", "--json").stdout)
        assert [p["btfId"] for p in listed if p["id"] == prog_id] == [0]


def test_unknown_ids_are_graphql_errors(agent: PhydevServer) -> None:
    for query in ("{ program(id: 4000000) { id } }", "{ map(id: 4000000) { id } }"):
        status, body = post(agent, query)
        assert status == 200 and body["data"] is None
        assert "not found" in body["errors"][0]["message"]


def test_get_map(agent: PhydevServer, packet_fixture: PacketFixture) -> None:
    # flows grows with every loopback packet (our own HTTP requests included): check its
    # relations here, and an exact entriesCount on lpm, which only the test setup writes.
    map_id = packet_fixture.obj.map_ids["flows"]
    got = data(agent, GET_MAP, {"mapId": map_id})["map"]
    assert got["entriesCount"] > 0
    assert got["pins"] == [packet_fixture.obj.map_pin("flows")] and got["isPinned"] is True
    assert (got["keySize"], got["valueSize"], got["type"]) == (8, 16, "Hash")
    assert got["isPerCPU"] is False and got["isLookupSupported"] is True
    assert got["programs"] == [
        {"id": packet_fixture.obj.prog_ids["count_packets"], "name": "count_packets",
         "type": "SocketFilter"}
    ]  # fmt: skip
    lpm = data(agent, GET_MAP, {"mapId": packet_fixture.obj.map_ids["lpm"]})["map"]
    ref = bpftool_json("map", "dump", "id", str(packet_fixture.obj.map_ids["lpm"]))
    assert isinstance(ref, list)
    assert lpm["entriesCount"] == len(ref) == 2
    assert lpm["type"] == "LPMTrie" and lpm["flags"] == 1 and lpm["programs"] == []


@pytest.mark.parametrize(
    ("name", "supported"),
    [("lru_lens", True), ("lpm", True), ("outer", True), ("jmp_table", True),
     ("AT_pkts", True), ("events", False), ("lens_queue", False)],
)  # fmt: skip
def test_is_lookup_supported(
    agent: PhydevServer, packet_fixture: PacketFixture, name: str, supported: bool
) -> None:
    got = data(agent, GET_MAP, {"mapId": packet_fixture.obj.map_ids[name]})["map"]
    assert got["isLookupSupported"] is supported
    if not supported:
        assert got["entriesCount"] == 0


def test_socket_maps_are_listable_only_with_cookie_sized_values(agent: PhydevServer) -> None:
    """SockMap entries read back as 8-byte socket cookies; with 4-byte values the kernel
    refuses every read, so the map says isLookupSupported: false instead of failing."""
    from devagent.bpf.maps import MapHandle, create_map
    from devagent.bpf.names import MAP_TYPE_IDS
    from devagent.bpf.objects import map_info

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b, create_map(MAP_TYPE_IDS["SockMap"], 4, 8, 4, name="t_sock8") as cookies, \
            create_map(MAP_TYPE_IDS["SockMap"], 4, 4, 4, name="t_sock4") as fds:  # fmt: skip
        for fd in (cookies, fds):
            MapHandle(fd, map_info(fd)).update(struct.pack("<I", 3), struct.pack("<I", a.fileno())
                                               .ljust(map_info(fd).value_size, b"\0"))  # fmt: skip
        cookie = a.getsockopt(socket.SOL_SOCKET, 57, 8).hex()
        expect = {map_info(cookies).id: (True, 1, [{"key": "03000000", "value": cookie,
                                                    "cpuValues": []}]),
                  map_info(fds).id: (False, 0, [])}  # fmt: skip
        for map_id, (supported, count, entries) in expect.items():
            deadline = time.monotonic() + 5
            while True:  # the server's snapshot is up to 1 s old
                _, body = post(agent, GET_MAP, {"mapId": map_id})
                if "errors" not in body or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            got = body["data"]["map"]
            assert (got["isLookupSupported"], got["entriesCount"]) == (supported, count)
            variables = {"mapId": map_id, "keyFormat": "HEX", "valueFormat": "HEX"}
            assert data(agent, GET_MAP_ENTRIES, variables)["map"]["entries"] == entries


def all_pages(agent: PhydevServer, map_id: int, fmt: str, limit: int) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    offset = 0
    while True:
        variables = {"mapId": map_id, "offset": offset, "limit": limit,
                     "keyFormat": fmt, "valueFormat": fmt}  # fmt: skip
        page = data(agent, GET_MAP_ENTRIES, variables)["map"]["entries"]
        entries += page
        if len(page) < limit:
            return entries
        offset += limit


def raw(cells: list[str]) -> bytes:
    return bytes(int(c, 16) for c in cells)


@pytest.mark.parametrize(("name", "fmt"), [("t_hash", "HEX"), ("t_hash", "NUMBER"),
                                          ("t_str", "STRING"), ("t_pcpu", "NUMBER")])  # fmt: skip
@pytest.mark.parametrize("limit", [3, 7])
def test_entries_pages_cover_the_map_in_key_order(
    own_agent: PhydevServer, own_maps: OwnMaps, name: str, fmt: str, limit: int
) -> None:
    from devagent.model.codec import Format, format_bytes

    map_id = own_maps.id(name)
    codec_fmt = Format(fmt)
    entries = all_pages(own_agent, map_id, fmt, limit=limit)
    ref = bpftool_json("map", "dump", "id", str(map_id))
    assert isinstance(ref, list)
    keys = [e["key"] for e in entries]
    assert len(keys) == len(set(keys)) == len(ref) > limit  # several pages, no overlap
    if name == "t_pcpu":
        expected = {
            format_bytes(raw(e["key"]), codec_fmt): [
                format_bytes(raw(v["value"]), codec_fmt) for v in e["values"]
            ]
            for e in ref
        }
        assert {e["key"]: e["cpuValues"] for e in entries} == expected
        assert all(e["value"] is None for e in entries)
    else:
        expected = {
            format_bytes(raw(e["key"]), codec_fmt): format_bytes(raw(e["value"]), codec_fmt)
            for e in ref
        }
        assert {e["key"]: e["value"] for e in entries} == expected
        assert all(e["cpuValues"] == [] for e in entries)
    order = [int(k) for k in keys] if fmt == "NUMBER" else keys
    assert order == sorted(order)
    count = data(own_agent, GET_MAP, {"mapId": map_id})["map"]["entriesCount"]
    assert count == len(ref)


def test_per_cpu_entries(agent: PhydevServer, packet_fixture: PacketFixture) -> None:
    map_id = packet_fixture.obj.map_ids["pcpu_counters"]
    variables = {"mapId": map_id, "keyFormat": "NUMBER", "valueFormat": "NUMBER"}
    got = data(agent, GET_MAP_ENTRIES, variables)["map"]
    assert got["isPerCPU"] is True and got["entriesCount"] == 2
    assert [e["key"] for e in got["entries"]] == ["0", "1"]
    from devagent.bpf.maps import possible_cpus

    for entry in got["entries"]:
        assert entry["value"] is None and len(entry["cpuValues"]) == possible_cpus()
    assert sum(int(v) for v in got["entries"][0]["cpuValues"]) > 0
    at_pkts = packet_fixture.obj.map_ids["AT_pkts"]
    variables = {"mapId": at_pkts, "keyFormat": "STRING", "valueFormat": "NUMBER"}
    strings = data(agent, GET_MAP_ENTRIES, variables)
    assert "ipv4" in [e["key"] for e in strings["map"]["entries"]]


def test_btf_entry_format(agent: PhydevServer, packet_fixture: PacketFixture) -> None:
    map_id = packet_fixture.obj.map_ids["lpm"]
    variables = {"mapId": map_id, "keyFormat": "BTF", "valueFormat": "BTF"}
    entries = data(agent, GET_MAP_ENTRIES, variables)["map"]["entries"]
    ref = bpftool_json("map", "dump", "id", str(map_id))
    assert isinstance(ref, list)
    formatted = sorted((json.dumps(e["formatted"]["key"]), e["formatted"]["value"]) for e in ref)
    ours = sorted((json.dumps(json.loads(e["key"])), json.loads(e["value"])) for e in entries)
    assert ours == formatted
    outer = packet_fixture.obj.map_ids["outer"]
    _, body = post(agent, GET_MAP_ENTRIES, {"mapId": outer, "keyFormat": "BTF"})
    assert "has no BTF type for its keys" in body["errors"][0]["message"]


def test_connected_graph(agent: PhydevServer, packet_fixture: PacketFixture) -> None:
    ids = packet_fixture.obj
    got = data(agent, CONNECTED_GRAPH, {"id": ids.prog_ids["count_packets"], "type": "PROGRAM"})
    graph = got["connectedGraph"]
    prog_ref = bpftool_json("prog", "show", "id", str(ids.prog_ids["count_packets"]))
    assert isinstance(prog_ref, dict)
    assert set(prog_ref["map_ids"]) <= {m["id"] for m in graph["maps"]}
    # Every program that shares a map with count_packets is reachable, and its maps with it.
    for prog in graph["programs"]:
        assert {m["id"] for m in prog["maps"]} <= {m["id"] for m in graph["maps"]}
    alone = data(agent, CONNECTED_GRAPH, {"id": ids.map_ids["lpm"], "type": "MAP"})
    assert alone["connectedGraph"] == {
        "programs": [], "maps": [{"id": ids.map_ids["lpm"], "type": "LPMTrie", "name": "lpm"}]
    }  # fmt: skip


def test_links_owners_and_details(
    agent: PhydevServer, packet_fixture: PacketFixture, link_fixture: LinkFixture
) -> None:
    query = """{ links { id type attachType interfaceName ifindex cgroupId cgroupPath pins
                         program { id name } } }"""
    links = {link["id"]: link for link in data(agent, query)["links"]}
    xdp = links[link_fixture.xdp_link_id]
    assert xdp["type"] == "XDP" and xdp["interfaceName"] == link_fixture.devname and xdp["pins"]
    assert xdp["program"]["id"] == packet_fixture.obj.prog_ids["xdp_pass"]
    cg = links[link_fixture.cgroup_link_id]
    assert cg["type"] == "Cgroup" and cg["attachType"] == "cgroup_inet_ingress"
    assert cg["cgroupPath"] == link_fixture.cgroup_path
    ref = {lk["id"]: lk for lk in bpftool_json("link", "show")}  # type: ignore[union-attr]
    assert cg["cgroupId"] == ref[link_fixture.cgroup_link_id]["cgroup_id"]
    query = (
        "query($id:Int!){ connectedGraph(from:$id, fromType: LINK) "
        "{ links { id } programs { id } } }"
    )
    graph = data(agent, query, {"id": link_fixture.xdp_link_id})
    assert {"id": link_fixture.xdp_link_id} in graph["connectedGraph"]["links"]
    assert {"id": packet_fixture.obj.prog_ids["xdp_pass"]} in graph["connectedGraph"]["programs"]
    prog = data(agent, "query($id:Int!){ program(id:$id) { links { id } pins loadedAt uid "
                "xlatedSize jitedSize verifiedInsns gplCompatible avgRunTime } }",
                {"id": packet_fixture.obj.prog_ids["xdp_pass"]})["program"]  # fmt: skip
    pref = bpftool_json("prog", "show", "id", str(packet_fixture.obj.prog_ids["xdp_pass"]))
    assert isinstance(pref, dict)
    assert prog["links"] == [{"id": link_fixture.xdp_link_id}]
    assert (prog["xlatedSize"], prog["jitedSize"], prog["uid"]) == (
        pref["bytes_xlated"], pref["bytes_jited"], pref["uid"],
    )  # fmt: skip


def test_owners_include_a_process_holding_an_fd(agent: PhydevServer) -> None:
    import os

    from devagent.bpf.maps import create_map
    from devagent.bpf.names import MAP_TYPE_IDS
    from devagent.bpf.objects import map_info

    with create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name="t_owned") as fd:
        map_id = map_info(fd).id
        time.sleep(CACHE_AGE)  # the agent's snapshot is up to 1 s old
        got = data(agent, "query($id:Int!){ map(id:$id) { owners { pid fd comm } } }",
                   {"id": map_id})  # fmt: skip
        assert {"pid": os.getpid(), "fd": fd.fd, "comm": got["map"]["owners"][0]["comm"]} in got[
            "map"
        ]["owners"]


def test_host_features_and_their_metric_are_the_cli_table(
    agent: PhydevServer, packet_fixture: PacketFixture
) -> None:
    """Query.host.features and devagent_ebpf_feature_info carry the table `phydev inspect
    features` prints for the same --bpf_dir (the iterator rows say what the server's own
    iterators do, so only their status is compared)."""
    from prometheus_client.parser import text_string_to_metric_families

    cli = {
        row["name"]: row
        for row in json.loads(
            run_phydev("inspect", "features", "--json", "--bpf_dir", packet_fixture.bpf_dir).stdout
        )
    }
    query = "{ host { features { name title status detail since } } }"
    served = {f["name"]: f for f in data(agent, query)["host"]["features"]}
    assert list(served) == list(cli)
    for name, row in cli.items():
        mine = served[name]
        assert mine["status"] == row["status"].upper()
        if not name.endswith("_iterator"):
            assert (mine["title"], mine["detail"], mine["since"]) == (
                row["title"], row["detail"], row["since"],
            )  # fmt: skip
    body, _ = agent.get("/metrics")
    samples = {
        s.labels["feature"]: s
        for family in text_string_to_metric_families(body)
        if family.name in ("devagent_ebpf_feature", "devagent_ebpf_feature_info")
        for s in family.samples
    }
    assert set(samples) == set(cli)
    for name, sample in samples.items():
        assert sample.value == 1.0 and sample.labels["status"] == cli[name]["status"]
        assert sample.labels["since"] == (cli[name]["since"] or "")
