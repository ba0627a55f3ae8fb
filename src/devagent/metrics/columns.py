"""Families kept as columns, rendered without a Sample object per sample.

A scrape with 1000 programs and 1000 maps holds ~17 000 per-object samples spread over ~15
families that share their label sets (`id, type, tag, name` for programs, `id, name, type`
for maps). prometheus_client's families make a Sample (a namedtuple and a dict) per
sample, and a template line per sample re-escapes and re-joins the same label values for
every family. Here a family keeps one row of label values per sample and the values; the
rendering asks the encoder for one probe line per family (kept across scrapes), joins each
row's escaped label values with the line's literals once per render, shared by every
family whose lines put them the same way, and writes `head + labels + tail + value`.

The bytes are the encoder's own (tests compare them for every Accept header), and
`samples` builds ordinary Samples on demand for any other prometheus_client consumer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .template import Encoder, ProbedLine, escape_label_value, go_float, probe

Row = tuple[str, ...]

# Sample names of each family type, as prometheus_client's own families name them.
_SUFFIX = {"counter": "_total", "info": "_info"}


class ColumnFamily(Metric):
    """A family of samples sharing one label-name tuple, kept as rows and values."""

    def __init__(
        self,
        name: str,
        documentation: str,
        typ: str,
        labels: Sequence[str],
        rows: list[Row] | None = None,
        values: list[float] | None = None,
    ) -> None:
        """`rows` may be one list shared by several families (the same objects in the same
        order): their label text is then joined once for all of them."""
        super().__init__(name, documentation, typ)
        self.label_names: Row = tuple(labels)
        self.sample_name = name + _SUFFIX.get(typ, "")
        self.rows: list[Row] = [] if rows is None else rows
        self.values: list[float] = [] if values is None else values

    def add(self, labels: Row, value: float) -> None:
        """One more sample (for families whose rows are their own)."""
        self.rows.append(labels)
        self.values.append(value)

    @property
    def samples(self) -> list[Sample]:
        names = self.label_names
        return [
            Sample(self.sample_name, dict(zip(names, row, strict=True)), float(value))
            for row, value in zip(self.rows, self.values, strict=True)
        ]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        """Metric.__init__ assigns an empty list; the samples come from the columns."""


def format_value(value: float) -> str:
    """A sample value as prometheus_client writes it (floatToGoString of the float): an int
    below a million is its digits and `.0`, anything else goes through floatToGoString."""
    if type(value) is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"
    return go_float(value)


class ColumnRenderer:
    """Renders ColumnFamilies; keeps each family's probed line across scrapes (the probe
    is an encoder call), so a scrape only fills in rows."""

    def __init__(self) -> None:
        self._probes: dict[tuple[Any, ...], tuple[ProbedLine, tuple[int, ...], str]] = {}
        # Joined label text by (shape, row): rows are the same for an object in every
        # scrape (its labels never change), so this is work done once per object.
        self._blocks: dict[tuple[str, Row], str] = {}
        # Each family's whole text by (probe key, rows, values), as of the last render: most
        # families (sizes, load times, info, idle programs' counters) are the same from one
        # scrape to the next, and comparing their rows and values costs a fraction of
        # writing their lines again.
        self._texts: dict[tuple[Any, ...], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(family: ColumnFamily, encoder: Encoder) -> tuple[Any, ...]:
        return (encoder, family.name, family.documentation, family.type, family.unit,
                family.label_names)  # fmt: skip

    def _line(
        self, family: ColumnFamily, encoder: Encoder
    ) -> tuple[ProbedLine, tuple[int, ...], str]:
        """(probed line, row index of each slot in line order, the literals between slots
        as a key: families with equal keys put a row's labels in the same text)."""
        key = self._key(family, encoder)
        with self._lock:
            found = self._probes.get(key)
        if found is None:
            line = probe(encoder, family, family.sample_name, family.label_names)
            slots = tuple(family.label_names.index(s) for s in line.pieces[1::2])
            found = (line, slots, "\x00".join(line.pieces[2:-1:2]) + repr(slots))
            with self._lock:
                if len(self._probes) > 512:  # encoders are per Accept header: bounded anyway
                    self._probes.clear()
                self._probes[key] = found
        return found

    def render(self, families: Sequence[ColumnFamily], encoder: Encoder) -> list[str]:
        """The exposition text of each family, in order."""
        # The joined label text of a list of rows, per way of joining (shape): families
        # sharing their rows list share this work.
        joined: dict[tuple[str, int], list[str]] = {}
        keep: list[list[Row]] = []  # the id() keys above stay valid while this lives
        used_rows: list[tuple[str, list[Row]]] = []
        out = []
        texts = self._texts
        kept: dict[tuple[Any, ...], str] = {}
        for family in families:
            text_key = (self._key(family, encoder), tuple(family.rows), tuple(family.values))
            text = texts.get(text_key)
            if text is not None:
                out.append(kept.setdefault(text_key, text))
                continue
            line, slots, shape = self._line(family, encoder)
            pieces = line.pieces
            key = (shape, id(family.rows))
            blocks = joined.get(key)
            if blocks is None:
                blocks = joined[key] = self._joined(shape, family.rows, slots, pieces[2:-1:2])
                keep.append(family.rows)
                used_rows.append((shape, family.rows))
            head, tail = pieces[0], pieces[-1]
            values = _values(family.values)
            lines = [f"{head}{b}{tail}{v}\n" for b, v in zip(blocks, values, strict=True)]
            out.append(kept.setdefault(text_key, line.header + "".join(lines)))
        self._texts = kept
        with self._lock:  # forget objects gone since: keep what this scrape used
            used = [(shape, row) for shape, rows in used_rows for row in rows]
            if used and len(self._blocks) > 2 * len(used) + 1024:
                self._blocks = {key: self._blocks[key] for key in used if key in self._blocks}
        return out

    def _joined(
        self, shape: str, rows: list[Row], slots: tuple[int, ...], literals: Sequence[str]
    ) -> list[str]:
        """The joined label text of each row, from the cache where this object was seen."""
        cache = self._blocks
        out: list[str] = []
        missing: list[int] = []
        for i, row in enumerate(rows):
            text = cache.get((shape, row))
            if text is None:
                missing.append(i)
                out.append("")
            else:
                out.append(text)
        if missing:
            made = _blocks([rows[i] for i in missing], slots, literals)
            with self._lock:
                for i, text in zip(missing, made, strict=True):
                    out[i] = cache[(shape, rows[i])] = text
        return out


def _blocks(rows: list[Row], slots: tuple[int, ...], literals: Sequence[str]) -> list[str]:
    """Each row's label values, escaped, in the line's slot order, joined by its literals."""
    if not slots:
        return ["" for _ in rows]
    first, rest = slots[0], list(zip(literals, slots[1:], strict=True))
    out = []
    for row in rows:
        parts = [_escaped(row[first])]
        for literal, slot in rest:
            parts.append(literal)
            parts.append(_escaped(row[slot]))
        out.append("".join(parts))
    return out


def _values(values: list[float]) -> list[str]:
    """format_value of each, in one pass for the common case of small ints."""
    small = values and all(type(v) is int for v in values)
    if small and min(values) > -1_000_000 and max(values) < 1_000_000:
        return [f"{v}.0" for v in values]
    return [format_value(v) for v in values]


def _escaped(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return escape_label_value(value)
    return value
