"""The entries pager on a real map: pages come in key order from one read, and a read that can
no longer serve a page is let go of (an idle server does not keep a big map in memory)."""

from __future__ import annotations

import gc
import struct
import weakref
from collections.abc import Callable

from devagent.api.entries import EntryPager
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.model.inventory import Inventory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reads_are_released_once_they_cannot_serve_a_page(kernel: None) -> None:
    clock = Clock()
    scheduled: list[tuple[float, Callable[[], None]]] = []
    inventory = Inventory(max_age=1.0, clock=clock)
    pager = EntryPager(inventory, fresh_age=1.0, paging_age=30.0, clock=clock,
                       schedule=lambda *a: scheduled.append(a))  # fmt: skip
    with create_map(MAP_TYPE_IDS["Hash"], 4, 8, 64, name="t_pager") as fd:
        handle = MapHandle(fd, map_info(fd))
        for k in (30, 10, 20):
            handle.update(struct.pack("<I", k), struct.pack("<Q", k * 100))
        info = handle.info
        first = pager.page(info, 0, 2, "NUMBER", "NUMBER")
        assert [(e["key"], e["value"]) for e in first] == [("10", "1000"), ("20", "2000")]
        held = weakref.ref(inventory.map_dump(info.id))
        assert len(scheduled) == 1 and scheduled[0][0] == 30.0
        handle.update(struct.pack("<I", 5), struct.pack("<Q", 500))
        clock.now += 10  # a later page within paging_age: same read, no reshuffle
        assert [e["key"] for e in pager.page(info, 2, 2, "NUMBER", "NUMBER")] == ["30"]
        scheduled[0][1]()  # fires early: the read is still young enough to serve pages
        gc.collect()
        assert held() is not None
        clock.now += 25
        scheduled[0][1]()
        gc.collect()
        assert held() is None, "the expired read is still referenced"
        again = pager.page(info, 2, 2, "NUMBER", "NUMBER")
        assert [e["key"] for e in again] == ["20", "30"]  # a new read, with key 5
