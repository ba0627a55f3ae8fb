"""Exposition text, in the format the scraper asked for, made by prometheus_client.

Every family goes through prometheus_client's own encoder (text 0.0.4 or OpenMetrics, chosen
from the Accept header), except `devagent_ebpf_map_entry_value`, which can hold hundreds of
thousands of samples: for it, prometheus_client renders one template sample whose label
values are placeholders, and the real lines are made by filling the template in. The bytes
are the same as prometheus_client would write (a unit test compares them), at a fraction of
the cost of one Python object per sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from .metrics_maps import MapExport

Encoder = Callable[..., bytes]

ENTRY_VALUE = "devagent_ebpf_map_entry_value"
ENTRY_VALUE_HELP = "Value of an eBPF map entry"
ENTRY_VALUE_LABELS = ("id", "name", "type", "key", "cpu")
OPENMETRICS_EOF = "# EOF\n"
_SLOT = re.compile("\x00([a-z]+)\x00")
_NAMED_SLOT = re.compile('([^{,\\s]+)="\x00([0-9]+)\x00"')
_go_float: Callable[[float], str] = floatToGoString  # how prometheus_client writes values


def escape_label_value(value: str) -> str:
    """A label value as the exposition formats quote it (backslash, newline, double quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def escape_label_values(values: list[str]) -> list[str]:
    """escape_label_value of each, skipping the work when none needs escaping (the rule)."""
    joined = "".join(values)
    if "\\" in joined or "\n" in joined or '"' in joined:
        return [escape_label_value(v) for v in values]
    return values


def with_field_labels(keys: list[str], e: MapExport, names: Sequence[str]) -> list[str]:
    """Escaped key label values followed by a btf rule's `key_<field>` labels.

    The template writes `key="` + slot + `"`: what goes in the slot may close the quote and
    open the next labels (`bash",key_comm="bash`). Label order is free in both exposition
    formats, so they can follow `key` wherever the encoder puts it. `names` are the field
    label names as the encoder writes them (see `encoded_label_names`).
    """
    if not e.field_names:
        return keys
    return [
        key + "".join(f'",{n}="{escape_label_value(v)}' for n, v in zip(names, row, strict=True))
        for key, row in zip(keys, e.field_values, strict=True)
    ]


def encoded_label_names(encoder: Encoder, names: Sequence[str]) -> tuple[str, ...]:
    """Label names as an encoder writes them: a scraper may ask for an escaping scheme
    (`escaping=dots` turns `key_proto` into `key__proto`), so ask the encoder itself."""
    if not names:
        return ()
    probe = Metric(ENTRY_VALUE, ENTRY_VALUE_HELP, "gauge")
    probe.add_sample(ENTRY_VALUE, {n: f"\x00{i}\x00" for i, n in enumerate(names)}, 0.0)
    line = _strip_eof(encoder(_Families([probe])).decode())
    found = {int(i): n for n, i in _NAMED_SLOT.findall(line)}
    if sorted(found) != list(range(len(names))):
        raise RuntimeError(f"unexpected exposition line from prometheus_client: {line!r}")
    return tuple(found[i] for i in range(len(names)))


def format_values(values: Iterable[int]) -> list[str]:
    """Sample values as prometheus_client writes them (floatToGoString of the float)."""
    return [f"{v}.0" if v < 1_000_000 else _go_float(v) for v in values]


class MapEntryValueFamily(Metric):
    """devagent_ebpf_map_entry_value for a list of exported maps.

    `samples` is built on demand, so any prometheus_client consumer sees an ordinary gauge;
    `render_samples` is the fast path used by MetricsExporter.
    """

    def __init__(self, exports: Sequence[MapExport]) -> None:
        super().__init__(ENTRY_VALUE, ENTRY_VALUE_HELP, "gauge")
        self.exports = tuple(exports)

    @property
    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for e in self.exports:
            base = {"id": str(e.info.id), "name": e.info.name, "type": e.info.type_name}
            cpus = [str(c) for c in range(e.ncpus)] if e.per_cpu else [""]
            fields = e.field_values or [()] * len(e.keys)
            for key, extra, row in zip(e.keys, fields, e.values.tolist(), strict=True):
                for cpu, value in zip(cpus, row, strict=True):
                    labels = {
                        **base,
                        "key": key,
                        **dict(zip(e.field_names, extra, strict=True)),
                        "cpu": cpu,
                    }
                    out.append(Sample(ENTRY_VALUE, labels, float(value)))
        return out

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        """Metric.__init__ assigns an empty list; the samples come from the exports."""

    def render_samples(
        self, template: SampleTemplate, label_names: Callable[[Sequence[str]], Sequence[str]]
    ) -> str:
        """The sample lines, made from the template (same bytes as prometheus_client);
        `label_names` writes a btf rule's field label names as the encoder does."""
        parts: list[str] = []
        for e in self.exports:
            head, middle, tail, first = template.for_map(
                {
                    "id": str(e.info.id),
                    "name": e.info.name,
                    "type": e.info.type_name,
                    **({} if e.per_cpu else {"cpu": ""}),
                }
            )
            keys = with_field_labels(escape_label_values(e.keys), e, label_names(e.field_names))
            values = format_values(e.values.ravel().tolist())
            if not e.per_cpu:
                # head + key + tail + value: "cpu" was filled in with the map's labels.
                parts.extend(f"{head}{k}{tail}{v}\n" for k, v in zip(keys, values, strict=True))
                continue
            cpus = [str(c) for c in range(e.ncpus)]
            ncpus = len(cpus)
            rows = (values[i * ncpus : (i + 1) * ncpus] for i in range(len(keys)))
            if first == "cpu":
                parts.extend(
                    f"{head}{c}{middle}{k}{tail}{v}\n"
                    for k, row in zip(keys, rows, strict=True)
                    for c, v in zip(cpus, row, strict=True)
                )
            else:
                parts.extend(
                    f"{head}{k}{middle}{c}{tail}{v}\n"
                    for k, row in zip(keys, rows, strict=True)
                    for c, v in zip(cpus, row, strict=True)
                )
        return "".join(parts)


@dataclass(frozen=True)
class SampleTemplate:
    """One map_entry_value line as the encoder writes it, split at its label values."""

    header: str  # the HELP / TYPE (/ UNIT) lines
    pieces: tuple[str, ...]  # literal, slot, literal, slot, ..., literal (ends before value)

    def for_map(self, fixed: dict[str, str]) -> tuple[str, str, str, str]:
        """Fill in the labels fixed for one map: (head, middle, tail, first) such that a line
        is head + <first> + middle + <other> + tail + value, where first/other are the
        remaining slots ("cpu", "key"); with cpu fixed, a line is head + key + tail + value."""
        out: list[str] = []
        slots: list[str] = []
        text = self.pieces[0]
        for slot, literal in zip(self.pieces[1::2], self.pieces[2::2], strict=True):
            if slot in fixed:
                text += escape_label_value(fixed[slot]) + literal
            else:
                out.append(text)
                slots.append(slot)
                text = literal
        out.append(text)
        if len(slots) == 1:
            return out[0], "", out[1], slots[0]
        return out[0], out[1], out[2], slots[0]


class _Families:
    """The minimal Collector the encoders want: something with collect()."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _strip_eof(text: str) -> str:
    return text[: -len(OPENMETRICS_EOF)] if text.endswith(OPENMETRICS_EOF) else text


def sample_template(encoder: Encoder) -> SampleTemplate:
    """The map_entry_value template for an encoder (one tiny render, done per scrape)."""
    probe = Metric(ENTRY_VALUE, ENTRY_VALUE_HELP, "gauge")
    probe.add_sample(ENTRY_VALUE, {k: f"\x00{k}\x00" for k in ENTRY_VALUE_LABELS}, 0.0)
    text = _strip_eof(encoder(_Families([probe])).decode())
    lines = text.splitlines(keepends=True)
    header = "".join(line for line in lines if line.startswith("#"))
    (line,) = (line for line in lines if not line.startswith("#"))
    suffix = " 0.0\n"
    if not line.endswith(suffix) or line.count("\x00") != 2 * len(ENTRY_VALUE_LABELS):
        raise RuntimeError(f"unexpected exposition line from prometheus_client: {line!r}")
    pieces = tuple(_SLOT.split(line[: -len(suffix)] + " "))
    return SampleTemplate(header, pieces)


def negotiate(accept_header: str | None) -> tuple[Encoder, str]:
    """The encoder and content type for an Accept header (OpenMetrics when asked for)."""
    return choose_encoder(accept_header or "")


def is_openmetrics(content_type: str) -> bool:
    return content_type.startswith("application/openmetrics-text")


def render(families: Iterable[Metric], encoder: Encoder, content_type: str) -> bytes:
    """The exposition of `families`, in order, with the encoder chosen by `negotiate`."""
    out: list[str] = []
    for family in families:
        if isinstance(family, MapEntryValueFamily):
            if not family.exports:
                continue
            template = sample_template(encoder)
            out.append(template.header)
            out.append(family.render_samples(template, partial(encoded_label_names, encoder)))
        else:
            out.append(_strip_eof(encoder(_Families([family])).decode()))
    if is_openmetrics(content_type):
        out.append(OPENMETRICS_EOF)
    return "".join(out).encode()
