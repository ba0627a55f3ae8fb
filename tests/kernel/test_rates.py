"""Rates, history and the watched sampler on real kernel counters: a socket filter that
receives a known number of datagrams per second (tests/pump.py)."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import pytest

from devagent.bpf.run_counters import CounterReader
from devagent.model.history import History
from devagent.model.rates import compute_rates
from devagent.model.sampler import THREAD_NAME, WatchedSampler
from tests.conftest import bpftool_json
from tests.pump import PacketPump

RATE = 300.0  # datagrams per second sent to the filter


def bpftool_counts(prog_id: int) -> tuple[int, int]:
    """(run_cnt, run_time_ns) as bpftool reads them."""
    info = bpftool_json("prog", "show", "id", str(prog_id))
    assert isinstance(info, dict)
    return int(info.get("run_cnt", 0)), int(info.get("run_time_ns", 0))


def test_counter_reading_equals_bpftool(packet_pump: PacketPump) -> None:
    packet_pump.start(RATE)
    time.sleep(0.3)
    packet_pump.stop()  # counts stand still now: exact comparison
    time.sleep(0.05)
    reading = CounterReader().read()
    assert list(reading.ids) == sorted(reading.ids)
    k = list(reading.ids).index(packet_pump.prog_id)
    assert (reading.run_count[k], reading.run_time_ns[k]) == bpftool_counts(packet_pump.prog_id)
    assert reading.run_count[k] >= 0.3 * RATE * 0.5


def test_rates_match_the_sent_rate_and_the_kernels_deltas(packet_pump: PacketPump) -> None:
    """events/s within 10 % of the packets actually sent in the interval (the filter sees
    only ours, so the only error is a few packets in flight at either end), and within 10 %
    of the sender's nominal rate (pacing on a busy 2-CPU machine may lag). CPU % is checked
    against bpftool's run_time_ns delta over an interval that encloses ours."""
    reader = CounterReader()
    packet_pump.start(RATE)
    try:
        time.sleep(0.2)
        outer_before = bpftool_counts(packet_pump.prog_id)
        before = reader.read()
        time.sleep(2.0)
        after = reader.read()
        outer_after = bpftool_counts(packet_pump.prog_id)
    finally:
        packet_pump.stop()
    rates = compute_rates(before, after)
    rate = rates.get(packet_pump.prog_id)
    assert rate.events_per_second is not None and rate.cpu_percent is not None
    sent = packet_pump.sent_between(before.wall_time, after.wall_time) / rates.interval
    assert rate.events_per_second == pytest.approx(sent, rel=0.1)
    assert rate.events_per_second == pytest.approx(RATE, rel=0.1)
    k = list(after.ids).index(packet_pump.prog_id)
    j = list(before.ids).index(packet_pump.prog_id)
    run_ns = after.run_time_ns[k] - before.run_time_ns[j]
    assert rate.cpu_percent == pytest.approx(100 * run_ns / (rates.interval * 1e9))
    runs = after.run_count[k] - before.run_count[j]
    assert rate.avg_run_time_ns == pytest.approx(run_ns / runs)
    # bpftool's readings enclose ours: its deltas bound ours from above.
    outer_runs = outer_after[0] - outer_before[0]
    outer_ns = outer_after[1] - outer_before[1]
    assert 0 < after.run_count[k] - before.run_count[j] <= outer_runs
    assert 0 < run_ns <= outer_ns


def sampler_threads(besides: frozenset[threading.Thread] = frozenset()) -> list[threading.Thread]:
    """Sampler threads alive now, other than `besides` (those of samplers that earlier tests
    made, which stop on their own once idle)."""
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t not in besides]


def test_the_sampler_reads_only_while_watched(packet_pump: PacketPump) -> None:
    earlier = frozenset(sampler_threads())
    sampler = WatchedSampler(
        History(), interval=0.2, idle_after=1.0, first_interval=0.1, keep_after_idle=2.0
    )
    time.sleep(0.5)
    assert sampler.reads == 0 and not sampler_threads(earlier)  # nobody watched: nothing read
    packet_pump.start(RATE)
    try:
        rates = sampler.latest_rates()  # the first request waits for two readings
        assert rates is not None and sampler.reads >= 2 and len(sampler_threads(earlier)) == 1
        assert rates.get(packet_pump.prog_id).events_per_second is not None
        for _ in range(4):  # still watched: sampling goes on
            time.sleep(0.3)
            sampler.watch()
        series = sampler.series([packet_pump.prog_id], 60)[0].points
        assert len(series) >= 6
        # Each interval's rate is what the pump sent in it (on its absolute schedule, a
        # sender thread starved by a busy machine catches up in a burst, so not RATE).
        for earlier_point, point in pairwise(series[1:]):
            seconds = point.wall_time - earlier_point.wall_time
            sent = packet_pump.sent_between(earlier_point.wall_time, point.wall_time) / seconds
            assert point.events_per_second == pytest.approx(sent, rel=0.25, abs=15), [
                p.events_per_second for p in series
            ]
    finally:
        packet_pump.stop()
    deadline = time.monotonic() + 5
    while sampler.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sampler.running
    reads = sampler.reads
    assert len(sampler.history) >= 6  # kept while it can still be shown
    time.sleep(0.6)
    assert sampler.reads == reads  # nobody watches: no more readings
    deadline = time.monotonic() + 5
    while sampler.thread_alive and time.monotonic() < deadline:
        time.sleep(0.05)
    # keep_after_idle after the last reading: the history and the thread are gone.
    assert not sampler_threads(earlier) and len(sampler.history) == 0
    assert sampler.reads == reads


def test_the_history_outlives_a_pause(packet_pump: PacketPump) -> None:
    """Rates taken before nobody watched stay in the series after sampling resumes; the
    interval over the pause has no rate (nobody sampled it), the next ones have."""
    sampler = WatchedSampler(
        History(), interval=0.2, idle_after=0.5, first_interval=0.1, keep_after_idle=30.0
    )
    packet_pump.start(RATE)
    try:
        for _ in range(4):
            sampler.watch()
            time.sleep(0.2)
        before = sampler.series([packet_pump.prog_id], 300)[0].points
        assert len(before) >= 3 and before[-1].events_per_second is not None
        deadline = time.monotonic() + 5
        while sampler.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sampler.running and sampler.thread_alive  # resting, history kept
        reads = sampler.reads
        time.sleep(0.5)
        assert sampler.reads == reads
        rates = sampler.latest_rates()  # waits for two new readings
        assert rates is not None and rates.get(packet_pump.prog_id).events_per_second is not None
        after = sampler.series([packet_pump.prog_id], 300)[0].points
    finally:
        packet_pump.stop()
        sampler.stop()
    gaps = [b.wall_time - a.wall_time for a, b in pairwise(after)]
    pause = gaps.index(max(gaps)) + 1  # the first point after the pause
    assert max(gaps) >= 0.45  # the 0.5 s slept while resting
    assert [p.wall_time for p in after[: len(before)]] == [p.wall_time for p in before]
    assert all(p.events_per_second is not None for p in after[1:pause])
    assert after[pause].events_per_second is None and after[-1].events_per_second is not None
