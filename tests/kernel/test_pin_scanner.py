"""bpf.pins.PinScanner against a real bpffs: a directory whose mtime did not change keeps
what was found in it (no pin is opened again), every change (pin, unpin, rename, new or
removed directory) is seen, and a directory changed too recently to trust its mtime is
always read again."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from devagent.bpf import objects
from devagent.bpf.handles import Fd
from devagent.bpf.maps import create_map
from devagent.bpf.names import MAP_TYPE_IDS
from devagent.bpf.pins import PinIndex, PinScanner, pin_object, scan_pins
from tests.conftest import BpffsMount, require_kernel

# Longer than a kernel clock tick: two changes this far apart get different mtimes.
TICK = 0.03


@pytest.fixture
def mount() -> Iterator[BpffsMount]:
    require_kernel()
    mount = BpffsMount()
    yield mount
    mount.close()


def as_dicts(index: PinIndex) -> tuple[dict[int, list[str]], ...]:
    return index.programs, index.maps, index.links


def test_unchanged_directories_are_kept_and_every_change_is_seen(mount: BpffsMount) -> None:
    root = mount.path
    maps = [create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name=f"pinscan{i}") for i in range(5)]
    ids = [objects.map_info(m).id for m in maps]
    settled = PinScanner(str(root), clock=lambda: time.time_ns() + 10**12)  # all look old

    def check(expected_opens: int) -> PinIndex:
        before = settled.opened
        index = settled.scan()
        assert as_dicts(index) == as_dicts(scan_pins(str(root)))  # a fresh walk agrees
        assert settled.opened - before == expected_opens
        time.sleep(TICK)  # the next change gets a new mtime
        return index

    # A fresh bpffs may hold the kernel's own files (maps.debug, progs.debug): opened with
    # every read of the root.
    extra = sum(1 for p in root.iterdir() if not p.is_dir())
    try:
        (root / "sub").mkdir()
        pin_object(maps[0], str(root / "a"))
        pin_object(maps[1], str(root / "sub" / "b"))
        time.sleep(TICK)
        found = check(extra + 2).maps
        assert found == {ids[0]: [str(root / "a")], ids[1]: [str(root / "sub" / "b")]}
        check(0)  # nothing changed: not one pin opened
        pin_object(maps[2], str(root / "sub" / "c"))
        assert check(2).maps[ids[2]] == [str(root / "sub" / "c")]  # sub read again: b, c
        os.unlink(root / "a")
        assert ids[0] not in check(extra).maps  # root read again
        os.rename(root / "sub" / "b", root / "sub" / "b2")
        assert check(2).maps[ids[1]] == [str(root / "sub" / "b2")]
        (root / "sub" / "deeper").mkdir()
        time.sleep(TICK)
        pin_object(maps[3], str(root / "sub" / "deeper" / "d"))
        pin_object(maps[4], str(root / "sub" / "also_c"))  # a second pin, another map
        index = check(4)  # sub (also_c, b2, c) and deeper (d)
        assert index.maps[ids[3]] == [str(root / "sub" / "deeper" / "d")]
        os.unlink(root / "sub" / "deeper" / "d")
        os.rmdir(root / "sub" / "deeper")
        assert ids[3] not in check(3).maps
        check(0)
    finally:
        for m in maps:
            m.close()


def test_a_recently_changed_directory_is_read_again_even_with_its_old_mtime(
    mount: BpffsMount,
) -> None:
    """A change within the kernel clock's tick can leave a directory's mtime as it was
    (simulated here by setting it back): a directory read less than `settle_ns` after its
    mtime is not kept, so the change is still seen."""
    root = mount.path
    first, second = (create_map(MAP_TYPE_IDS["Array"], 4, 4, 1, name=f"pinrace{i}") for i in (0, 1))
    try:
        pin_object(first, str(root / "a"))
        stat = os.stat(root)
        now = [stat.st_mtime_ns + 1000]  # the scan starts right after the last change
        scanner = PinScanner(str(root), settle_ns=250_000_000, clock=lambda: now[0])
        assert set(scanner.scan().maps) == {objects.map_info(first).id}
        pin_object(second, str(root / "b"))
        os.utime(root, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the mtime as it was
        assert os.stat(root).st_mtime_ns == stat.st_mtime_ns
        assert set(scanner.scan().maps) == {objects.map_info(m).id for m in (first, second)}
        # Once the mtime is old enough it is trusted: the next scan opens nothing.
        now[0] = stat.st_mtime_ns + 10**12
        scanner.scan()
        opened = scanner.opened
        assert len(scanner.scan().maps) == 2 and scanner.opened == opened
    finally:
        for m in (first, second):
            Fd.close(m)
