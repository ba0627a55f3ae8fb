"""Exposition lines from templates that prometheus_client itself writes.

prometheus_client's encoders spend ~4 µs per sample (label-name validation and escaping,
sorting, formatting); with a thousand programs a scrape holds ~15 000 samples. Instead, the
encoder renders one probe sample per family whose label values are placeholders; that line,
split at the placeholders, becomes a `str.format` template filled in for every sample. The
bytes are the ones the encoder would write (tests compare them for every Accept header),
whatever its version does about label order, name escaping (`escaping=dots`) or OpenMetrics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

Encoder = Callable[..., bytes]

OPENMETRICS_EOF = "# EOF\n"
_PLACEHOLDER = re.compile("\x00([a-zA-Z0-9_]+)\x00")
_VALUE_SUFFIX = " 0.0\n"
go_float: Callable[[float], str] = floatToGoString  # how prometheus_client writes values


class Families:
    """The minimal Collector the encoders want: something with collect()."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def strip_eof(text: str) -> str:
    return text[: -len(OPENMETRICS_EOF)] if text.endswith(OPENMETRICS_EOF) else text


def encode(encoder: Encoder, families: Iterable[Metric]) -> str:
    """What the encoder writes for these families, without OpenMetrics' final `# EOF`."""
    return strip_eof(encoder(Families(families)).decode())


def escape_label_value(value: str) -> str:
    """A label value as the exposition formats quote it (backslash, newline, double quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def escape_label_values(values: list[str]) -> list[str]:
    """escape_label_value of each, skipping the work when none needs escaping (the rule)."""
    joined = "".join(values)
    if "\\" in joined or "\n" in joined or '"' in joined:
        return [escape_label_value(v) for v in values]
    return values


@dataclass(frozen=True)
class ProbedLine:
    """One sample line of a family as the encoder writes it, split at its label values."""

    header: str  # the HELP / TYPE (/ UNIT) lines
    pieces: tuple[str, ...]  # literal, label, literal, label, ..., literal (ends before value)


def probe(encoder: Encoder, family: Metric, sample_name: str, labels: Sequence[str]) -> ProbedLine:
    """Have the encoder write one sample of `family`'s kind with placeholder label values."""
    probe_family = Metric(family.name, family.documentation, family.type, family.unit)
    probe_family.add_sample(sample_name, {k: f"\x00{k}\x00" for k in labels}, 0.0)
    lines = encode(encoder, [probe_family]).splitlines(keepends=True)
    header = "".join(line for line in lines if line.startswith("#"))
    body = [line for line in lines if not line.startswith("#")]
    if len(body) != 1 or not body[0].endswith(_VALUE_SUFFIX):
        raise RuntimeError(f"unexpected exposition from prometheus_client: {lines!r}")
    pieces = tuple(_PLACEHOLDER.split(body[0][: -len(_VALUE_SUFFIX)] + " "))
    if sorted(pieces[1::2]) != sorted(labels):
        raise RuntimeError(f"unexpected exposition line from prometheus_client: {body[0]!r}")
    return ProbedLine(header, pieces)


def _format_template(line: ProbedLine) -> tuple[str, tuple[str, ...]]:
    """(a str.format template taking the label values in slot order then the value, the
    label names in slot order)."""
    literals = [p.replace("{", "{{").replace("}", "}}") for p in line.pieces[0::2]]
    return "{}".join(literals) + "{}\n", line.pieces[1::2]


def render_family(family: Metric, encoder: Encoder) -> str:
    """A family's exposition, through a template when its samples allow it (one sample name,
    one label set, no timestamps or exemplars), else through the encoder itself."""
    samples = family.samples
    if not samples:
        return encode(encoder, [family])
    first = samples[0]
    names = tuple(first.labels)
    if any(
        s.name != first.name
        or s.timestamp is not None
        or s.exemplar is not None
        or tuple(s.labels) != names
        for s in samples
    ):
        return encode(encoder, [family])
    line = probe(encoder, family, first.name, names)
    template, slots = _format_template(line)
    columns = [escape_label_values([s.labels[k] for s in samples]) for k in slots]
    values = [go_float(s.value) for s in samples]
    return line.header + "".join(map(template.format, *columns, values))
