"""Rates and history from synthetic counter readings: the arithmetic and the rules for
programs that appear, vanish or are replaced, without the kernel (the kernel tests feed the
same code real readings)."""

from __future__ import annotations

from array import array

import pytest

from devagent.bpf.run_counters import ProgramCounters
from devagent.model.history import History
from devagent.model.rates import compute_rates

S = 1_000_000_000


def reading(t: float, progs: dict[int, tuple[int, int, int]]) -> ProgramCounters:
    """A reading at monotonic time t (s) and Unix time 1000 + t: id -> (runs, ns, misses)."""
    ids = sorted(progs)
    return ProgramCounters(
        int(t * S),
        1000.0 + t,
        array("I", ids),
        array("Q", [progs[i][0] for i in ids]),
        array("Q", [progs[i][1] for i in ids]),
        array("Q", [progs[i][2] for i in ids]),
        array("I", [0] * len(ids)),
    )


def test_rates_are_deltas_over_measured_time() -> None:
    before = reading(10.0, {1: (100, 5_000, 0), 2: (0, 0, 0)})
    after = reading(12.0, {1: (1100, 205_000, 4), 2: (0, 0, 0)})
    rates = compute_rates(before, after)
    assert rates.interval == 2.0 and rates.wall_time == 1012.0
    one = rates.get(1)
    assert one.events_per_second == 500.0
    assert one.avg_run_time_ns == 200.0  # 200_000 ns over 1000 runs
    assert one.cpu_percent == pytest.approx(100 * 200_000 / 2e9)
    assert one.recursion_misses_per_second == 2.0
    idle = rates.get(2)
    assert idle.events_per_second == 0.0 and idle.avg_run_time_ns is None
    assert rates.total_events_per_second == 500.0
    assert rates.total_cpu_percent == pytest.approx(0.01)


def test_new_programs_have_no_rates_and_gone_ones_are_dropped() -> None:
    before = reading(0.0, {1: (0, 0, 0), 2: (5, 50, 0)})
    after = reading(1.0, {2: (15, 150, 0), 3: (7, 70, 0)})
    rates = compute_rates(before, after)
    assert set(rates.programs) == {2, 3}
    assert rates.get(3).events_per_second is None and rates.get(3).cpu_percent is None
    assert rates.get(2).events_per_second == 10.0
    assert rates.total_events_per_second == 10.0  # the unknown program adds nothing


def test_a_counter_going_backwards_is_another_program() -> None:
    rates = compute_rates(reading(0, {1: (100, 100, 0)}), reading(1, {1: (3, 3, 0)}))
    assert rates.get(1).events_per_second is None


def test_statistics_off_means_unknown_not_zero() -> None:
    rates = compute_rates(reading(0, {1: (5, 5, 0)}), reading(1, {1: (5, 5, 0)}), False)
    assert rates.get(1).events_per_second is None
    assert rates.total_cpu_percent is None and rates.total_events_per_second is None


def test_history_is_bounded_and_series_follow_the_rates() -> None:
    history = History(capacity=5)
    for t in range(8):
        history.add(reading(t, {1: (10 * t * t, 1000 * t, 0)}))
    assert len(history) == 5
    (series,) = history.series([1], seconds=300)
    assert [p.wall_time for p in series.points] == [1003.0, 1004.0, 1005.0, 1006.0, 1007.0]
    # The first kept point has no earlier reading left: no rate.
    assert series.points[0].events_per_second is None
    assert [p.events_per_second for p in series.points[1:]] == [70.0, 90.0, 110.0, 130.0]
    assert series.points[-1].run_count == 490 and series.points[-1].run_time_ns == 7000
    assert history.latest_rates() == compute_rates(
        reading(6, {1: (360, 6000, 0)}), reading(7, {1: (490, 7000, 0)})
    )
    (recent,) = history.series([1], seconds=2)
    assert [p.wall_time for p in recent.points] == [1005.0, 1006.0, 1007.0]
    assert recent.points[0].events_per_second == 90.0  # against the reading before the window


def test_history_memory_is_28_bytes_per_program_per_reading() -> None:
    history = History(capacity=10)
    progs = {i: (i, i, i) for i in range(1, 1001)}
    for t in range(25):
        history.add(reading(t, progs))
    assert history.nbytes == 10 * (28 * 1000 + 400)


def test_series_of_programs_that_come_and_go() -> None:
    history = History()
    history.add(reading(0, {1: (0, 0, 0)}))
    history.add(reading(1, {1: (10, 10, 0), 2: (0, 0, 0)}))
    history.add(reading(2, {2: (4, 4, 0)}))
    series = {s.id: s for s in history.series([1, 2, 9])}
    assert len(series[1].points) == 2 and series[9].points == []
    assert [p.events_per_second for p in series[2].points] == [None, 4.0]
    assert [s.id for s in history.series()] == [2]  # default: the latest reading's programs


def test_rates_across_a_pause_are_unknown_and_the_window_ends_now() -> None:
    """After sampling paused (nobody watched), the first new reading has no rate over the
    pause; a window counted back from now leaves out readings older than it."""
    history = History()
    for t in range(3):
        history.add(reading(t, {1: (10 * t, 10 * t, 0)}))
    history.add(reading(100, {1: (5000, 5000, 0)}), after_pause=True)
    history.add(reading(101, {1: (5010, 5010, 0)}))
    points = history.series([1])[0].points
    assert [p.events_per_second for p in points] == [None, 10.0, 10.0, None, 10.0]
    assert history.latest_rates() == compute_rates(
        reading(100, {1: (5000, 5000, 0)}), reading(101, {1: (5010, 5010, 0)})
    )
    history.add(reading(102, {1: (5020, 5020, 0)}))
    history.add(reading(103, {1: (5030, 5030, 0)}), after_pause=True)
    assert history.latest_rates().get(1).events_per_second is None
    (late,) = history.series([1], seconds=300, now=1000.0 + 302)
    assert [p.wall_time for p in late.points] == [1002.0, 1100.0, 1101.0, 1102.0, 1103.0]
