"""The fields the web UI added: Map.entryPosition (jump to a key) against real maps, in every
key format, and Query.serverInfo."""

from __future__ import annotations

import json
import time

from devagent.bpf.maps import possible_cpus
from tests.conftest import FrozenCounters, PhydevServer
from tests.e2e.conftest import HASH_ENTRIES, OwnMaps
from tests.e2e.test_graphql_server import data, post

KEYS = """query Keys($id: Int!, $kf: MapEntryFormat) {
  map(id: $id) { entries(limit: 1000, keyFormat: $kf) { key } }
}"""
POSITION = """query Pos($id: Int!, $key: String!, $kf: MapEntryFormat) {
  map(id: $id) { entryPosition(key: $key, keyFormat: $kf) }
}"""


def keys(agent: PhydevServer, map_id: int, kf: str) -> list[str]:
    return [e["key"] for e in data(agent, KEYS, {"id": map_id, "kf": kf})["map"]["entries"]]


def position(agent: PhydevServer, map_id: int, key: str, kf: str) -> int | None:
    answer = data(agent, POSITION, {"id": map_id, "key": key, "kf": kf})
    return answer["map"]["entryPosition"]  # type: ignore[no-any-return]


def test_entry_position_is_the_index_in_that_formats_order(
    own_agent: PhydevServer, own_maps: OwnMaps
) -> None:
    hex_keys = keys(own_agent, own_maps.id("t_hash"), "HEX")
    as_numbers = [str(int.from_bytes(bytes.fromhex(k), "little")) for k in hex_keys]
    assert keys(own_agent, own_maps.id("t_hash"), "NUMBER") != as_numbers  # two orders
    for name, formats in (("t_hash", ("HEX", "NUMBER")), ("t_str", ("STRING", "HEX"))):
        map_id = own_maps.id(name)
        for kf in formats:
            listed = keys(own_agent, map_id, kf)
            assert len(listed) == (HASH_ENTRIES if name == "t_hash" else 8)
            for index, key in enumerate(listed):
                assert position(own_agent, map_id, key, kf) == index, (name, kf, key)


def test_entry_position_absent_and_bad_keys(own_agent: PhydevServer, own_maps: OwnMaps) -> None:
    map_id = own_maps.id("t_hash")
    assert position(own_agent, map_id, "ffffffff", "HEX") is None
    assert position(own_agent, map_id, "123456", "NUMBER") is None
    _, bad = post(own_agent, POSITION, {"id": map_id, "key": "abc", "kf": "HEX"})
    message = bad["errors"][0]["message"]
    assert "key 'abc'" in message
    assert position(own_agent, own_maps.id("t_array"), "00000000", "HEX") == 0


def test_entry_position_of_btf_keys(
    own_agent: PhydevServer, frozen_counters: FrozenCounters
) -> None:
    """A BTF key is found from the JSON `entries` shows, however it is spaced."""
    map_id = frozen_counters.obj.map_ids["flows"]
    deadline = time.monotonic() + 5  # the agent's snapshot may predate the fixture by 1 s
    while "errors" in post(own_agent, KEYS, {"id": map_id})[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    listed = keys(own_agent, map_id, "BTF")
    assert listed
    for index, key in enumerate(listed):
        spaced = json.dumps(json.loads(key), indent=2)
        assert position(own_agent, map_id, spaced, "BTF") == index
    missing = json.dumps({**json.loads(listed[0]), "proto": 65535})
    assert position(own_agent, map_id, missing, "BTF") is None
    _, bad = post(own_agent, POSITION, {"id": map_id, "key": "{proto", "kf": "BTF"})
    assert "is not JSON" in bad["errors"][0]["message"]


def test_server_info(own_agent: PhydevServer) -> None:
    fields = "version allowWrites writesDisabledReason authRequired pathPrefix bpfDir possibleCpus"
    info = data(own_agent, f"{{ serverInfo {{ {fields} }} }}")["serverInfo"]
    assert info["allowWrites"] is False and "--allow-writes" in info["writesDisabledReason"]
    assert info["authRequired"] is False and info["pathPrefix"] == "/"
    assert info["possibleCpus"] == possible_cpus()
