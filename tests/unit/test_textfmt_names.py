"""Go duration formatting and the contract's type names."""

from __future__ import annotations

import pytest

from devagent.bpf import names
from devagent.cli.textfmt import go_bool, go_duration, table


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (999, "999ns"),
        (1_000, "1µs"),
        (21_860, "21.86µs"),
        (21_861, "21.861µs"),
        (1_000_000, "1ms"),
        (3_200_000, "3.2ms"),
        (3_200_001, "3.200001ms"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (61_000_000_000, "1m1s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_400_000_000, "1h2m3.4s"),
        (-1_500, "-1.5µs"),
    ],
)
def test_go_duration_matches_go(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_bool_and_table() -> None:
    assert (go_bool(True), go_bool(False)) == ("true", "false")
    assert table(["A", "B"], [["1", "x"], ["2", ""]]) == "A\tB\n1\tx\n2\t\n"


def test_contract_type_names() -> None:
    assert len(names.MAP_TYPES) == 34 and len(names.PROG_TYPES) == 33
    assert names.map_type_name(5) == "PerCPUHash"
    assert names.map_type_name(33) == "Arena"
    assert names.map_type_name(34) == "MapType(34)"
    assert names.prog_type_name(1) == "SocketFilter"
    assert names.prog_type_name(32) == "Netfilter"
    assert names.prog_type_name(99) == "ProgramType(99)"
    assert [names.task_fd_type_name(i) for i in range(6)] == [
        "RawTracepoint", "Tracepoint", "Kprobe", "Kretprobe", "Uprobe", "Uretprobe",
    ]  # fmt: skip
    assert names.link_type_name(11) == "TCX" and names.link_type_name(14) == "Sockmap"
    per_cpu = {names.MAP_TYPES[i] for i in names.PER_CPU_MAP_TYPES}
    assert per_cpu == {"PerCPUHash", "PerCPUArray", "LRUCPUHash", "PerCPUCGroupStorage"}


def test_map_flag_names() -> None:
    assert names.map_flag_names(0) == []
    assert names.map_flag_names(1 | 1 << 10) == ["NO_PREALLOC", "MMAPABLE"]
    assert names.map_flag_names(1 << 30) == ["0x40000000"]
