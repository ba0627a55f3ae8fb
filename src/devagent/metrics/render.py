"""Exposition text, in the format the scraper asked for (text 0.0.4 or OpenMetrics, chosen
from the Accept header by prometheus_client), made from templates the encoder writes itself
(devagent.metrics.template): the same bytes at a fraction of the encoder's cost per sample.

`devagent_ebpf_map_entry_value`, which can hold hundreds of thousands of samples, goes
further: its samples are never built as Python objects at all, the lines are made straight
from each exported map's keys and values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .columns import ColumnFamily, ColumnRenderer
from .map_export import MapExport
from .template import (
    OPENMETRICS_EOF,
    Encoder,
    ProbedLine,
    escape_label_value,
    escape_label_values,
    go_float,
    probe,
    render_family,
)

ENTRY_VALUE = "devagent_ebpf_map_entry_value"
ENTRY_VALUE_HELP = "Value of an eBPF map entry"
ENTRY_VALUE_LABELS = ("id", "name", "type", "key", "cpu")
_NAME_BEFORE_VALUE = re.compile('([^{,\\s]+)="$')


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
    meta = Metric(ENTRY_VALUE, ENTRY_VALUE_HELP, "gauge")
    line = probe(encoder, meta, ENTRY_VALUE, names)
    written: dict[str, str] = {}
    for before, name in zip(line.pieces[0::2], line.pieces[1::2], strict=False):
        match = _NAME_BEFORE_VALUE.search(before)
        if match is None:
            raise RuntimeError(f"unexpected exposition line from prometheus_client: {line!r}")
        written[name] = match.group(1)
    return tuple(written[n] for n in names)


def format_values(values: Iterable[int]) -> list[str]:
    """Sample values as prometheus_client writes them (floatToGoString of the float)."""
    return [f"{v}.0" if type(v) is int and -1_000_000 < v < 1_000_000 else go_float(v)
            for v in values]  # fmt: skip


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
        self, template: ProbedLine, label_names: Callable[[Sequence[str]], Sequence[str]]
    ) -> str:
        """The sample lines, made from the template (same bytes as prometheus_client);
        `label_names` writes a btf rule's field label names as the encoder does."""
        parts: list[str] = []
        for e in self.exports:
            head, middle, tail, first = split_for_map(
                template,
                {
                    "id": str(e.info.id),
                    "name": e.info.name,
                    "type": e.info.type_name,
                    **({} if e.per_cpu else {"cpu": ""}),
                },
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


def split_for_map(line: ProbedLine, fixed: dict[str, str]) -> tuple[str, str, str, str]:
    """Fill the labels fixed for one map into the entry-value line: (head, middle, tail,
    first) such that a line is head + <first> + middle + <other> + tail + value, where
    first/other are the remaining slots ("cpu", "key"); with cpu fixed, a line is
    head + key + tail + value."""
    out: list[str] = []
    slots: list[str] = []
    text = line.pieces[0]
    for slot, literal in zip(line.pieces[1::2], line.pieces[2::2], strict=True):
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


def entry_value_line(encoder: Encoder) -> ProbedLine:
    """The map_entry_value line for an encoder (one tiny render, done per scrape)."""
    meta = Metric(ENTRY_VALUE, ENTRY_VALUE_HELP, "gauge")
    return probe(encoder, meta, ENTRY_VALUE, ENTRY_VALUE_LABELS)


def negotiate(accept_header: str | None) -> tuple[Encoder, str]:
    """The encoder and content type for an Accept header (OpenMetrics when asked for)."""
    return choose_encoder(accept_header or "")


def is_openmetrics(content_type: str) -> bool:
    return content_type.startswith("application/openmetrics-text")


def render(
    families: Iterable[Metric],
    encoder: Encoder,
    content_type: str,
    columns: ColumnRenderer | None = None,
) -> bytes:
    """The exposition of `families`, in order, with the encoder chosen by `negotiate`
    (`columns` keeps the probed lines of ColumnFamilies across scrapes)."""
    families = list(families)
    columns = columns or ColumnRenderer()
    column_texts = iter(
        columns.render([f for f in families if isinstance(f, ColumnFamily)], encoder)
    )
    out: list[str] = []
    for family in families:
        if isinstance(family, ColumnFamily):
            out.append(next(column_texts))
        elif isinstance(family, MapEntryValueFamily):
            if not family.exports:
                continue
            template = entry_value_line(encoder)
            out.append(template.header)
            out.append(family.render_samples(template, partial(encoded_label_names, encoder)))
        else:
            out.append(render_family(family, encoder))
    if is_openmetrics(content_type):
        out.append(OPENMETRICS_EOF)
    return "".join(out).encode()
