"""ColumnFamily rendering against prometheus_client's own encoders: the same bytes for every
Accept header, family type, awkward label value and value magnitude."""

from __future__ import annotations

import math

import pytest

from devagent.metrics.columns import ColumnFamily, ColumnRenderer, format_value
from devagent.metrics.render import negotiate, render
from devagent.metrics.template import encode
from tests.unit.test_metrics_render import ACCEPTS

LABELS = ["id", "type", "tag", "name"]
ROWS = [
    ("1", "SocketFilter", "8eb4036f5f6d8f90", "count_packets"),
    ("22", "XDP", "00", 'quo"te'),
    ("333", "Kprobe", "ff", "back\\slash"),
    ("4444", "TracePoint", "ab", "new\nline"),
    ("5", "LSM", "cd", "été ✓"),
    ("6", "Tracing", "", ""),
]
VALUES = [0, 999_999, 1_000_000, 2**40, 0.1, 1e-9, 1e20, 123.0, -5, 3.5e6]


def families() -> list[ColumnFamily]:
    out = []
    for kind, name in (("gauge", "devagent_t_gauge"), ("counter", "devagent_t_runs"),
                       ("info", "devagent_t")):  # fmt: skip
        family = ColumnFamily(name, f"A {kind} for the test", kind, LABELS)
        for i, row in enumerate(ROWS * 2):
            family.add(row, 1 if kind == "info" else VALUES[i % len(VALUES)])
        out.append(family)
    return out


@pytest.mark.parametrize("accept", ACCEPTS)
def test_columns_render_as_the_encoder_writes(accept: str | None) -> None:
    encoder, content_type = negotiate(accept)
    renderer = ColumnRenderer()
    for _ in range(2):  # the second time from the kept probes
        ours = render(families(), encoder, content_type, renderer).decode()
        theirs = encode(encoder, families())
        if content_type.startswith("application/openmetrics-text"):
            theirs += "# EOF\n"
        assert ours == theirs


@pytest.mark.parametrize(
    "value", [0, 7, -7, 999_999, 1_000_000, 10**12, 0.5, -0.0, 1e-300, 1e300, math.inf,
              -math.inf, math.nan, 1234567.0, 0.1 + 0.2],
)  # fmt: skip
def test_values_are_written_as_prometheus_client_writes_them(value: float) -> None:
    from prometheus_client.utils import floatToGoString

    assert format_value(value) == floatToGoString(value)
