"""The full-screen `phydev top` driven headless by Textual's pilot, on real kernel objects:
rows, sorting (key and click), filtering, pausing and the detail pane."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator

import pytest
from textual.widgets import DataTable, Static

from devagent.cli.top.app import TopApp
from devagent.cli.top.local import LocalSource
from devagent.cli.top.view import COLUMNS
from devagent.model.inventory import take_snapshot
from devagent.model.map_fill import map_fill, map_memlocks
from tests.conftest import PacketFixture, bpftool_json
from tests.pump import PROG_NAME, PacketPump

RATE = 300.0


@pytest.fixture
def pumping(packet_pump: PacketPump) -> Iterator[PacketPump]:
    packet_pump.start(RATE)
    yield packet_pump
    packet_pump.stop()


async def until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def column(app: TopApp, name: str) -> list[str]:
    table = app.query_one(DataTable)
    return [str(c) for c in table.get_column_at(COLUMNS.index(name))]


def numbers(cells: list[str]) -> list[float]:
    return [float(c.replace(",", "")) for c in cells if c != "-"]


def header_x(app: TopApp, name: str) -> int:
    """x offset of a column's header inside the table, for a click."""
    table = app.query_one(DataTable)
    columns = list(table.columns.values())
    return sum(c.get_render_width(table) for c in columns[: COLUMNS.index(name)]) + 1


def test_rows_sort_filter_pause_and_detail(
    pumping: PacketPump, packet_fixture: PacketFixture
) -> None:
    source = LocalSource(packet_fixture.bpf_dir, interval=0.3)
    # Every program, as bpftool lists them (the agent's own iterators are hidden by default)
    app = TopApp(source, interval=0.3, show_agent=True)
    count_packets = packet_fixture.obj.prog_ids["count_packets"]

    async def drive() -> None:
        async with app.run_test(size=(170, 48)) as pilot:
            await until(lambda: app.frames >= 3)
            ids = [int(c) for c in column(app, "ID")]
            assert {pumping.prog_id, count_packets} <= set(ids)
            kernel_ids = {p["id"] for p in bpftool_json("prog", "show")}  # type: ignore[union-attr]
            assert len(set(ids) & kernel_ids) >= len(kernel_ids) - 5  # others load/unload too
            header = str(app.query_one("#header", Static).render())
            assert os.uname().release in header and "eBPF CPU" in header and "stats:" in header

            # Default: CPU % descending, unknown ('-') last.
            cpu = numbers(column(app, "CPU %"))
            assert cpu == sorted(cpu, reverse=True)
            row = app.query_one(DataTable).get_row(str(pumping.prog_id))
            # The rate shown is what the pump really sent over the frame's interval (it sends
            # on an absolute schedule, so after a late wake-up a short interval sees a burst).
            frame = app.frame
            assert frame is not None and frame.interval is not None
            sent = pumping.sent_between(frame.wall_time - frame.interval, frame.wall_time)
            assert sent > 0.5 * RATE * frame.interval
            assert str(row[1]) == PROG_NAME and float(
                str(row[5]).replace(",", "")
            ) == pytest.approx(sent / frame.interval, rel=0.1, abs=2 / frame.interval)

            await pilot.press("2")  # by name, ascending
            names = column(app, "Name")
            assert names == sorted(names)
            await pilot.press("2")  # again: descending
            names = column(app, "Name")
            assert names == sorted(names, reverse=True)
            await pilot.click(DataTable, offset=(header_x(app, "Events/s"), 0))  # a click
            events = numbers(column(app, "Events/s"))
            assert events == sorted(events, reverse=True) and app.sort_column == 5

            await pilot.press("slash", *"RATE_pro")  # any case, on name/type/owner
            await pilot.press("enter")
            # (another test run on this host may pump its own filter of the same name)
            assert set(column(app, "Name")) == {PROG_NAME}
            assert str(pumping.prog_id) in column(app, "ID")
            await pilot.press("slash", "escape")  # Esc clears the filter
            assert {PROG_NAME, "count_packets"} <= set(column(app, "Name"))

            await pilot.press("p")
            frames = app.frames
            await asyncio.sleep(1.0)
            assert app.frames == frames and "PAUSED" in str(
                app.query_one("#header", Static).render()
            )
            await pilot.press("p")
            await until(lambda: app.frames > frames)

            # Detail pane of count_packets: its maps, entries against max, memlock.
            table = app.query_one(DataTable)
            table.move_cursor(row=table.get_row_index(str(count_packets)))
            await pilot.press("enter")
            await until(lambda: app.frame is not None and app.frame.detail is not None
                        and len(app.frame.detail.events_history) >= 3)  # fmt: skip
            detail = app.frame.detail if app.frame else None
            assert detail is not None and detail.id == count_packets
            assert all(v is None or v > 0 for v in detail.events_history[1:])
            snap = take_snapshot(packet_fixture.bpf_dir)
            fill, memlock = map_fill(snap), map_memlocks(snap)
            by_name = {m.name: m for m in detail.maps}
            assert set(by_name) == {m.name for m in snap.maps_of_program(count_packets)}
            flows = by_name["flows"]
            assert flows.max_entries == 1024 and flows.entries == fill.counts[flows.id]
            assert flows.memlock_bytes == memlock[flows.id]
            shown = bpftool_json("map", "show", "id", str(flows.id))
            assert isinstance(shown, dict) and flows.memlock_bytes == shown["bytes_memlock"]
            body = str(app.query_one("#detail-body", Static).render())
            assert "flows" in body and "/ 1024" in body and "memlock" in body
            assert app.query_one("#detail").has_class("shown")

            await pilot.press("escape")
            assert not app.query_one("#detail").has_class("shown")
            await pilot.press("q")

    try:
        asyncio.run(drive())
    finally:
        source.close()
    assert source.stats_fd is None
