"""The response cache in a real app over real maps: repeated queries on one snapshot execute
once, and an edit is visible to the very next query, however long the snapshot lives."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import httpx

from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from devagent.web.app import create_app
from tests.e2e.conftest import OwnMaps

ENTRY = """query($id: Int!) { map(id: $id) { entriesCount
  entries(limit: 100, keyFormat: NUMBER, valueFormat: NUMBER) { key value } } }"""
UPDATE = """mutation($id: Int!, $key: String!, $value: String!) {
  updateMapValue(mapId: $id, key: $key, value: $value, keyFormat: NUMBER, valueFormat: NUMBER)
  { error } }"""


def run(app: Any, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    async def send() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            out = []
            for body in requests:
                response = await client.post("/query", json=body)
                assert response.status_code == 200, response.text
                out.append(response.json())
            return out

    return asyncio.run(send())


def test_identical_queries_on_one_snapshot_execute_once(own_maps: OwnMaps) -> None:
    inventory = Inventory(own_maps.bpf_dir, max_age=30.0)
    app = create_app(Settings(bpf_dir=own_maps.bpf_dir), inventory)
    query = {"query": ENTRY, "variables": {"id": own_maps.id("t_hash")}}
    other = {"query": ENTRY, "variables": {"id": own_maps.id("t_str")}}
    answers = run(app, query, query, other, query)
    assert answers[0] == answers[1] == answers[3] != answers[2]
    assert answers[0]["data"]["map"]["entriesCount"] == 40
    assert app.state.services.graphql.responses.hits == 2
    inventory.invalidate()  # a new snapshot: answered afresh
    run(app, query)
    assert app.state.services.graphql.responses.hits == 2


def test_an_edit_is_seen_by_the_next_identical_query(own_maps: OwnMaps) -> None:
    """The snapshot lives 30 s here: only the cache's clearing on mutation can make the
    second read show the new value."""
    inventory = Inventory(own_maps.bpf_dir, max_age=30.0)
    app = create_app(Settings(bpf_dir=own_maps.bpf_dir, allow_writes=True), inventory)
    map_id = own_maps.id("t_hash")
    query = {"query": ENTRY, "variables": {"id": map_id}}
    (first,) = run(app, query)
    before = {e["key"]: e["value"] for e in first["data"]["map"]["entries"]}
    key = min(before, key=int)
    new_value = str(int(before[key]) + 1000)
    edit = {"query": UPDATE, "variables": {"id": map_id, "key": key, "value": new_value}}
    try:
        edited, after = run(app, edit, query)
        assert edited["data"]["updateMapValue"]["error"] is None
        entries = {e["key"]: e["value"] for e in after["data"]["map"]["entries"]}
        assert entries[key] == new_value
        with own_maps.handle("t_hash") as handle:
            assert handle.lookup(struct.pack("<I", int(key))) == struct.pack("<Q", int(new_value))
    finally:
        with own_maps.handle("t_hash") as handle:
            handle.update(struct.pack("<I", int(key)), struct.pack("<Q", int(before[key])))
