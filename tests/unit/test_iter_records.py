"""The iterators' records as the kernel writes them (native-endian structs) into arrays."""

from __future__ import annotations

import pytest

from devagent.bpf.iter import maps, programs


def test_program_records_become_parallel_arrays() -> None:
    rows = [(7, 2, 10, 5_000, 1), (9, 0, 2**63, 2**64 - 1, 0)]
    reading = programs.parse_records(b"".join(programs.RECORD.pack(*r) for r in rows))
    assert list(reading.ids) == [7, 9] and list(reading.map_counts) == [2, 0]
    assert list(reading.run_count) == [10, 2**63]
    assert list(reading.run_time_ns) == [5_000, 2**64 - 1]
    assert list(reading.recursion_misses) == [1, 0]


def test_map_records_count_only_hash_maps() -> None:
    rows = [(3, 1, 5), (4, 2, 0), (8, 11, 0), (12, 9, 64), (13, 13, 2)]  # Hash Array LPM LRU HoM
    reading = maps.parse_records(b"".join(maps.RECORD.pack(*r) for r in rows))
    assert list(reading.ids) == [3, 4, 8, 12, 13] and list(reading.types) == [1, 2, 11, 9, 13]
    assert reading.kernel_counts() == {3: 5, 12: 64, 13: 2}


@pytest.mark.parametrize("parse", [programs.parse_records, maps.parse_records])
def test_a_torn_record_is_an_error(parse: object) -> None:
    with pytest.raises(ValueError, match="not whole records"):
        parse(bytes(33))  # type: ignore[operator]


def test_empty_output_is_no_object() -> None:
    assert len(programs.parse_records(b"").ids) == 0
    assert maps.parse_records(b"").kernel_counts() == {}
