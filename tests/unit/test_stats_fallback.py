"""Where a kernel has no BPF_ENABLE_STATS (before 5.8; every kernel this runs on now has it,
so its refusal is simulated here), `top` and `server --enable-stats` go on without it and
say why, instead of ending on the error."""

from __future__ import annotations

import errno

import pytest

from devagent.bpf import stats
from devagent.bpf.errors import BPFError


def refuse() -> None:
    raise BPFError.from_errno(errno.EINVAL, "ENABLE_STATS", "run-time statistics")


def test_hold_stats_says_why_it_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "enable_stats", refuse)
    fd, why = stats.hold_stats()
    assert fd is None and why is not None
    assert why.startswith("this kernel has no BPF_ENABLE_STATS (Linux 5.8+)")
    assert why.endswith("move only with sysctl kernel.bpf_stats_enabled=1")


def test_top_starts_without_them_and_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from devagent.cli.top import local, run

    monkeypatch.setattr(stats, "enable_stats", refuse)
    monkeypatch.setattr(local.bpf_stats, "sysctl_enabled", lambda: False)
    source = run.make_source(None, None, "/sys/fs/bpf", 1.0, True, program_iterator=False)
    try:
        assert source.stats_fd is None  # type: ignore[attr-defined]
    finally:
        source.close()
    err = capsys.readouterr().err
    assert "warning: cannot turn run statistics on: this kernel has no BPF_ENABLE_STATS" in err
