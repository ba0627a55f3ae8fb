"""Map fill through a real server: the GraphQL fields and the --map-entries-budget flag."""

from __future__ import annotations

import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PhydevServer, bpftool_json, run_phydev
from tests.e2e.conftest import HASH_ENTRIES, OwnMaps

QUERY = """{ maps { id name maxEntries usedEntries fillRatio memlockBytes entriesCount } }"""


def post(server: PhydevServer, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        server.url + "/query",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        body = json.loads(resp.read())
    assert isinstance(body, dict) and "errors" not in body, body
    return body


def test_fill_fields_match_the_kernel(own_maps: OwnMaps, own_agent: PhydevServer) -> None:
    body = post(own_agent, QUERY)
    maps = {m["name"]: m for m in body["data"]["maps"]}  # type: ignore[index]
    hash_map = maps["t_hash"]
    assert hash_map["usedEntries"] == HASH_ENTRIES == hash_map["entriesCount"]
    assert hash_map["fillRatio"] == HASH_ENTRIES / 64
    assert maps["t_array"]["usedEntries"] == 4 and maps["t_array"]["fillRatio"] == 1.0
    for name in ("t_hash", "t_pcpu", "t_array", "t_str"):
        shown = bpftool_json("map", "show", "id", str(own_maps.id(name)))
        assert isinstance(shown, dict)
        assert maps[name]["memlockBytes"] == shown["bytes_memlock"]
        dump = bpftool_json("map", "dump", "id", str(own_maps.id(name)))
        assert isinstance(dump, list) and maps[name]["usedEntries"] == len(dump)


def test_a_zero_budget_counts_only_arrays_without_the_map_iterator(own_maps: OwnMaps) -> None:
    server = PhydevServer(
        "--map-entries-budget", "0", "--no-program-iterator", bpf_dir=own_maps.bpf_dir
    )
    try:
        server.wait_ready()
        maps = {m["name"]: m for m in post(server, QUERY)["data"]["maps"]}  # type: ignore[index]
        assert maps["t_hash"]["usedEntries"] is None and maps["t_hash"]["fillRatio"] is None
        assert maps["t_hash"]["entriesCount"] == HASH_ENTRIES  # asked for by id: still exact
        assert maps["t_array"]["usedEntries"] == 4
        text, _ = server.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        skipped = families["devagent_ebpf_map_entries_skipped"].samples[0].value
        assert skipped >= 3  # t_hash, t_pcpu, t_str at least
        counted = {s.labels["name"] for s in families["devagent_ebpf_map_entries"].samples}
        assert "t_array" in counted and "t_hash" not in counted
    finally:
        server.stop()


def test_hash_maps_are_counted_by_the_kernel_whatever_the_budget(own_maps: OwnMaps) -> None:
    """With the agent's map iterator, hash maps come with the count the kernel keeps: no
    entry is read, so no budget is spent on them."""
    server = PhydevServer("--map-entries-budget", "0", bpf_dir=own_maps.bpf_dir)
    try:
        server.wait_ready()
        maps = {m["name"]: m for m in post(server, QUERY)["data"]["maps"]}  # type: ignore[index]
        assert maps["t_hash"]["usedEntries"] == HASH_ENTRIES == maps["t_hash"]["entriesCount"]
        for name in ("t_pcpu", "t_str"):
            dump = bpftool_json("map", "dump", "id", str(own_maps.id(name)))
            assert isinstance(dump, list) and maps[name]["usedEntries"] == len(dump) > 0
        text, _ = server.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        counted = {s.labels["name"]: s.value for s in families["devagent_ebpf_map_entries"].samples}
        assert counted["t_hash"] == HASH_ENTRIES and counted["t_array"] == 4
    finally:
        server.stop()


def test_a_negative_budget_is_a_usage_error() -> None:
    result = run_phydev("server", "--map-entries-budget", "-1", check=False)
    assert result.returncode == 2
    assert "--map-entries-budget" in result.stderr


def test_a_map_gone_mid_request_counts_zero_and_the_rest_answers(own_maps: OwnMaps) -> None:
    """The snapshot lists a map that is unloaded before its entries are counted: its
    entriesCount (non-null in the contract) is 0 rather than an error that would null the
    whole `maps` list."""
    import asyncio

    import httpx

    from devagent.bpf.maps import create_map
    from devagent.bpf.names import MAP_TYPE_IDS
    from devagent.bpf.objects import map_info
    from devagent.model.inventory import Inventory
    from devagent.model.settings import Settings
    from devagent.web.app import create_app

    inventory = Inventory(own_maps.bpf_dir, max_age=60.0)
    app = create_app(Settings(bpf_dir=own_maps.bpf_dir), inventory)
    doomed = create_map(MAP_TYPE_IDS["Hash"], 4, 4, 8, name="t_doomed")
    doomed_id = map_info(doomed).id
    inventory.snapshot().maps  # noqa: B018 (the snapshot lists it)
    doomed.close()

    async def ask() -> dict[str, object]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.post("/query", json={"query": QUERY})
            return dict(response.json())

    body = asyncio.run(ask())
    assert "errors" not in body, body
    maps = {m["id"]: m for m in body["data"]["maps"]}  # type: ignore[index]
    assert maps[doomed_id]["entriesCount"] == 0
    assert maps[own_maps.id("t_hash")]["entriesCount"] == HASH_ENTRIES
