"""A snapshot is freed by its reference count once the next one replaces it, after serving
the explorer's Navigation (compiled plan and graphql-core), a map page and a scrape: no
reference cycle leaves it, with its thousands of objects, to the garbage collector's full
collections (which paused UI polls for ~30 ms every few polls with 1000 + 1000 objects)."""

from __future__ import annotations

import gc
import weakref

from devagent.api import build_schema
from devagent.api.entries import EntryPager
from devagent.api.http import GraphQLEndpoint
from devagent.bpf.iter.walkers import Walkers
from devagent.metrics.exporter import MetricsExporter
from devagent.model.inventory import Inventory
from devagent.model.settings import Settings
from tests.conftest import PacketFixture

NAVIGATION = (
    "query Navigation { programs { id error name type tag runTime runCount btfId } "
    "maps { id error name type flags isPinned keySize valueSize maxEntries } }"
)
GET_MAP = (
    "query GetMap($mapId: Int!) { map(id: $mapId) { id error name type flags isPinned pins "
    "keySize valueSize maxEntries entriesCount isPerCPU isLookupSupported "
    "programs { id name type } } }"
)


def test_a_replaced_snapshot_is_freed_without_the_collector(packet_fixture: PacketFixture) -> None:
    iterators = Walkers()
    iterators.start()
    clock = [0.0]
    inventory = Inventory(packet_fixture.bpf_dir, clock=lambda: clock[0], iterators=iterators)
    settings = Settings(bpf_dir=packet_fixture.bpf_dir)
    endpoint = GraphQLEndpoint(build_schema(), settings, inventory, EntryPager(inventory))
    exporter = MetricsExporter(settings, inventory, schedule=lambda _delay, _action: None)
    gc.collect()
    gc.disable()
    try:
        refs = []
        for step in range(4):
            clock[0] += 10  # every step on a new snapshot
            snap = inventory.snapshot()
            map_id = next(iter(snap.maps))
            refs.append(weakref.ref(snap))
            del snap
            for query, variables in ((NAVIGATION, None), (NAVIGATION + " ", None),
                                     (GET_MAP, {"mapId": map_id})):  # fmt: skip
                status, _ = endpoint.respond({"query": query, "variables": variables}, False)
                assert status == 200
            exporter.render(None)
            if step >= 2:  # the endpoint's and exporter's caches hold the latest ones only
                assert refs[step - 2]() is None, gc.get_referrers(refs[step - 2]())
    finally:
        gc.enable()
        iterators.close()
