"""Map fill for every map: entries present against max_entries, counted within a budget,
compared with what bpftool reads from the kernel for the same maps."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest

from devagent.bpf.handles import Fd
from devagent.bpf.maps import MapHandle, create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.objects import map_info
from devagent.metrics import MetricsExporter
from devagent.model.inventory import Inventory
from devagent.model.map_fill import count_map_fill, map_fill, map_memlocks
from devagent.model.settings import Settings
from devagent.model.snapshot import Snapshot, take_snapshot
from tests.conftest import PacketFixture, bpftool_json, require_kernel
from tests.kernel.test_metrics import samples, scrape

# name: (type, key size, value size, max entries, entries written)
SPECS = {
    "mf_small": ("Hash", 4, 8, 8, 3),
    "mf_big": ("Hash", 4, 8, 4096, 300),
    "mf_pcpu": ("PerCPUHash", 4, 8, 64, 20),
    "mf_lru": ("LRUHash", 4, 8, 128, 7),
    "mf_array": ("Array", 4, 8, 5, 0),
    "mf_empty": ("Hash", 8, 8, 32, 0),
}


@pytest.fixture(scope="module")
def fill_maps() -> Iterator[dict[str, Fd]]:
    require_kernel()
    fds: dict[str, Fd] = {}
    try:
        for name, (kind, ks, vs, max_entries, n) in SPECS.items():
            fd = create_map(MAP_TYPE_IDS[kind], ks, vs, max_entries, name=name)
            fds[name] = fd
            handle = MapHandle(fd, map_info(fd))
            for i in range(n):
                handle.update(struct.pack("<I", i * 7), bytes(handle.value_buf_size))
        yield fds
    finally:
        for fd in fds.values():
            fd.close()


def ids(fds: dict[str, Fd]) -> dict[str, int]:
    return {name: map_info(fd).id for name, fd in fds.items()}


def bpftool_count(map_id: int) -> int:
    """Entries `bpftool map dump` lists (the kernel's answer, one lookup per key)."""
    dump = bpftool_json("map", "dump", "id", str(map_id)) or []
    assert isinstance(dump, list)
    return len(dump)


def only(snap: Snapshot, keep: set[int]) -> Snapshot:
    """The snapshot restricted to some maps, so a budget test does not depend on whatever
    else is loaded on the machine."""
    return Snapshot.of(maps=[m for i, m in snap.maps.items() if i in keep])


def test_counts_equal_what_bpftool_lists(
    fill_maps: dict[str, Fd], packet_fixture: PacketFixture
) -> None:
    """Hashes, per-CPU, LRU, empty, arrays (always full), and the fixture's program array
    and LPM trie, which the kernel will not read in batches (counted key by key)."""
    own = ids(fill_maps)
    fixture = packet_fixture.obj.map_ids
    wanted = {**own, "jmp_table": fixture["jmp_table"], "lpm": fixture["lpm"],
              "outer": fixture["outer"]}  # fmt: skip
    fill = count_map_fill(take_snapshot(packet_fixture.bpf_dir), budget=10**9)
    for name, map_id in wanted.items():
        assert fill.counts[map_id] == bpftool_count(map_id), name
    assert fill.counts[own["mf_big"]] == 300
    assert fill.counts[own["mf_array"]] == 5  # full by definition, nothing read
    assert fill.counts[fixture["jmp_table"]] == 1 and fill.counts[fixture["lpm"]] == 2
    # A ring buffer and a queue have no entries user space can list: neither count nor skip.
    for name in ("events", "lens_queue"):
        assert fixture[name] not in fill.counts and fixture[name] not in fill.skipped
    assert not fill.skipped


def test_budget_counts_smallest_maps_first_and_skips_the_rest(
    fill_maps: dict[str, Fd],
) -> None:
    own = ids(fill_maps)
    snap = only(take_snapshot("/sys/fs/bpf"), set(own.values()))
    # 3 + 0 + 20 + 7 = 30 entries in the maps smaller than mf_big; a budget of 40 covers
    # them (smallest max_entries first) and runs out inside mf_big's 300.
    fill = count_map_fill(snap, budget=40)
    assert fill.skipped == {own["mf_big"]}
    assert fill.counts == {own["mf_small"]: 3, own["mf_empty"]: 0, own["mf_pcpu"]: 20,
                           own["mf_lru"]: 7, own["mf_array"]: 5}  # fmt: skip
    # Budget 0: only arrays, which cost nothing, are known.
    none = count_map_fill(snap, budget=0)
    assert none.counts == {own["mf_array"]: 5}
    assert none.skipped == {own[n] for n in SPECS if n != "mf_array"}


def test_fill_is_counted_once_per_snapshot(fill_maps: dict[str, Fd]) -> None:
    own = ids(fill_maps)
    snap = only(take_snapshot("/sys/fs/bpf"), set(own.values()))
    first = map_fill(snap, 1000)
    handle = MapHandle(fill_maps["mf_small"], map_info(fill_maps["mf_small"]))
    handle.update(struct.pack("<I", 999), bytes(8))
    try:
        assert map_fill(snap, 1000) is first  # the same snapshot: the same answer
        fresh = only(take_snapshot("/sys/fs/bpf"), set(own.values()))
        assert map_fill(fresh, 1000).counts[own["mf_small"]] == 4
    finally:
        handle.delete(struct.pack("<I", 999))


def test_memlock_matches_bpftool(fill_maps: dict[str, Fd]) -> None:
    own = ids(fill_maps)
    memlocks = map_memlocks(only(take_snapshot("/sys/fs/bpf"), set(own.values())))
    for map_id in own.values():
        shown = bpftool_json("map", "show", "id", str(map_id))
        assert isinstance(shown, dict)
        assert memlocks[map_id] == shown["bytes_memlock"]


def test_metrics_export_fill_and_the_skipped_count(fill_maps: dict[str, Fd]) -> None:
    own = ids(fill_maps)

    def scrape_with(budget: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        settings = Settings(map_entries_budget=budget)
        text, _ = scrape(MetricsExporter(settings, Inventory(max_age=0)))
        return samples(text)

    def labels(name: str) -> tuple[tuple[str, str], ...]:
        kind = SPECS[name][0]
        return (("id", str(own[name])), ("name", name), ("type", kind))

    roomy = scrape_with(10**9)
    for name in SPECS:
        assert roomy["devagent_ebpf_map_entries"][labels(name)] == bpftool_count(own[name])
    assert roomy["devagent_ebpf_map_entries_skipped"][()] == 0
    tight = scrape_with(0)
    assert tight["devagent_ebpf_map_entries"][labels("mf_array")] == 5
    assert labels("mf_big") not in tight["devagent_ebpf_map_entries"]  # skipped, not guessed
    assert tight["devagent_ebpf_map_entries_skipped"][()] >= len(SPECS) - 1


def test_static_memlock_is_read_once_and_growing_memlock_every_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Preallocated maps' memory is fixed at creation (the Inventory reads it once); a hash
    without preallocation grows with its entries and is read for every snapshot. Before 6.4
    the kernel's memlock is an estimate made at creation (the feature table says which):
    read for every snapshot all the same, it does not move."""
    import devagent.bpf.objects as objects
    from devagent.bpf.features import WORKS, probe_features
    from devagent.bpf.map_types import memlock_is_static

    require_kernel()
    fixed = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 64, name="mf_fixed")
    growing = create_map(MAP_TYPE_IDS["Hash"], 4, 8, 64, name="mf_growing", flags=1)
    reads: list[int] = []
    real = objects.map_memlock

    def counting(map_id: int) -> int | None:
        reads.append(map_id)
        return real(map_id)

    monkeypatch.setattr(objects, "map_memlock", counting)
    try:
        fixed_id, growing_id = map_info(fixed).id, map_info(growing).id
        assert memlock_is_static(map_info(fixed)) and not memlock_is_static(map_info(growing))
        inventory = Inventory(max_age=0)
        first = inventory.snapshot().memlocks
        grow = MapHandle(growing, map_info(growing))
        for i in range(30):
            grow.update(struct.pack("<I", i), bytes(8))
        reads.clear()
        second = inventory.snapshot().memlocks
        assert fixed_id not in reads and growing_id in reads
        assert second[fixed_id] == first[fixed_id]
        in_use = next(f for f in probe_features() if f.name == "map_memory").status == WORKS
        assert (second[growing_id] > first[growing_id]) == in_use
        for map_id in (fixed_id, growing_id):
            shown = bpftool_json("map", "show", "id", str(map_id))
            assert isinstance(shown, dict) and second[map_id] == shown["bytes_memlock"]
    finally:
        fixed.close()
        growing.close()
