"""model.stats_hold's policies with a stand-in for BPF_ENABLE_STATS (the real fd is tested
against a real server in tests/e2e/test_stats_policy.py): what each policy takes, that a
refusal is said once and not retried, and the words the UI shows."""

from __future__ import annotations

import time

import pytest

from devagent.model.stats_hold import (
    ALWAYS,
    NEVER,
    ON_DEMAND,
    StatsHold,
    policy_from_flag,
)


class FakeFd:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def taker(refuse: str | None = None) -> tuple[list[FakeFd], object]:
    taken: list[FakeFd] = []

    def take() -> tuple[FakeFd | None, str | None]:
        if refuse:
            return None, refuse
        taken.append(FakeFd())
        return taken[-1], None

    return taken, take


def test_flag_to_policy() -> None:
    assert [policy_from_flag(v) for v in (None, True, False)] == [ON_DEMAND, ALWAYS, NEVER]
    with pytest.raises(ValueError, match="not one of"):
        StatsHold("SOMETIMES")


def test_on_demand_takes_on_a_look_and_lets_go_when_idle() -> None:
    taken, take = taker()
    hold = StatsHold(ON_DEMAND, 0.3, take=take)  # type: ignore[arg-type]
    assert hold.start() is None and not hold.held and not taken
    hold.watch()
    assert hold.held and len(taken) == 1
    for _ in range(4):  # looks within the idle time keep the same fd
        time.sleep(0.15)
        hold.watch()
    assert hold.held and len(taken) == 1 and "held now" in hold.describe()
    deadline = time.monotonic() + 3
    while hold.held and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not hold.held and taken[0].closed and "not held now" in hold.describe()
    hold.watch()
    assert hold.held and len(taken) == 2
    hold.close()
    assert taken[1].closed and not hold.held
    hold.watch()
    assert not hold.held, "closed for good"


def test_always_and_never() -> None:
    taken, take = taker()
    always = StatsHold(ALWAYS, 0.01, take=take)  # type: ignore[arg-type]
    assert always.start() is None and always.held
    time.sleep(0.05)
    always.watch()
    assert always.held and len(taken) == 1
    always.close()
    assert taken[0].closed
    never = StatsHold(NEVER, take=take)  # type: ignore[arg-type]
    never.start()
    never.watch()
    assert not never.held and len(taken) == 1
    assert "--no-enable-stats" in never.describe() and "To change:" in never.describe()


def test_a_refusal_is_said_and_not_retried() -> None:
    calls = []

    def take() -> tuple[None, str]:
        calls.append(1)
        return None, "this kernel has no BPF_ENABLE_STATS (Linux 5.8+)"

    hold = StatsHold(ON_DEMAND, take=take)  # type: ignore[arg-type]
    hold.watch()
    hold.watch()
    assert not hold.held and len(calls) == 1
    assert "but this kernel has no BPF_ENABLE_STATS" in hold.describe()
    always = StatsHold(ALWAYS, take=take)  # type: ignore[arg-type]
    assert always.start() == "this kernel has no BPF_ENABLE_STATS (Linux 5.8+)"
