"""Map entries exported to Prometheus by `--etm` rules: ordering, bounding, keys and values.

One exported map becomes a `MapExport`: its keys as label text in the rule's format, in key
order, at most `--etm-max-entries` of them, and their values as a (entries x CPUs) array of
unsigned 64-bit integers. All the per-entry work is vectorised (numpy, and the codec's bulk
formatter), so a 100 000-entry map costs tens of milliseconds, not seconds.

Key order: for the `number` format (keys of up to 8 bytes), the numeric order of the keys;
otherwise the order of the raw key bytes (memcmp), which is alphabetical for string keys and
the order of the hex text for hex keys. `btf` keys (devagent.metrics.btf_keys) are in byte
order too, and carry one extra `key_<field>` label per field of a struct key.

Label values are always valid UTF-8: the codec's STRING format writes undecodable bytes as
`\\xNN`. Two different keys whose label texts are equal (possible only with string keys) would
be a duplicate series, which Prometheus refuses; the first in key order keeps its label, each
later one is exported with `0x` + its bytes in hex instead (and, should even that be taken,
is left out and counted as truncated).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..bpf.errors import BPFError, NotFound
from ..bpf.info import MapInfo
from ..bpf.maps import MapDump
from ..model.codec import Format, bulk_format
from ..model.etm import EtmRule, first_match
from ..model.snapshot import Snapshot
from .btf_keys import NoKeyType, btf_key_labels

log = logging.getLogger("devagent.metrics")
FIELD_LABEL = "field"  # btf rules on struct values: which field of the value a sample is
WARN_EVERY = 3600.0  # seconds between two warnings about the same map

if TYPE_CHECKING:  # numpy is imported by the functions that use it: only --etm needs it
    import numpy as np
    import numpy.typing as npt

    U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class MapExport:
    """The exported entries of one map, ready to be rendered."""

    info: MapInfo
    rule: EtmRule
    count: int  # entries in the map
    keys: list[str]  # key label values, in key order
    values: U64  # shape (len(keys), ncpus): first 8 bytes of each (per-CPU) value
    per_cpu: bool
    truncated: int  # entries of the map not exported (--etm-max-entries, unusable labels)
    renamed: int  # keys exported as 0x<hex> because their label text was taken
    # btf rules on struct keys: the key_<field> label names, and their values per key
    field_names: tuple[str, ...] = ()
    field_values: list[tuple[str, ...]] = field(default_factory=list)
    key_format: str = ""  # the format the keys are in (hex when a btf rule had no BTF)

    @property
    def ncpus(self) -> int:
        return int(self.values.shape[1])


def key_format(rule: EtmRule) -> Format:
    """The codec format of a rule's key_format ('string', 'number', 'hex'; 'btf' is handled
    by devagent.metrics.btf_keys and sorts like hex)."""
    return Format.HEX if rule.key_format == "btf" else Format[rule.key_format.upper()]


def _key_matrix(dump: MapDump) -> npt.NDArray[np.uint8]:
    import numpy as np

    n, ks = dump.count, dump.key_size
    return np.frombuffer(dump.keys, dtype=np.uint8, count=n * ks).reshape(n, ks)


def _pad_to_words(raw: npt.NDArray[np.uint8], width: int, *, left: bool) -> npt.NDArray[np.uint8]:
    """Rows of `raw` zero-padded to `width` bytes, on the left or on the right."""
    import numpy as np

    n, size = raw.shape
    out = np.zeros((n, width), dtype=np.uint8)
    if left:
        out[:, width - size :] = raw
    else:
        out[:, :size] = raw
    return out


def key_order(dump: MapDump, numeric: bool) -> npt.NDArray[np.intp]:
    """Indices of the dump's entries in key order (see the module docstring)."""
    import numpy as np

    n, ks = dump.count, dump.key_size
    if n == 0 or ks == 0:
        return np.arange(n, dtype=np.intp)
    raw = _key_matrix(dump)
    if numeric and ks <= 8:
        # The native-endian integer: its value is the same whatever the padding side is,
        # as long as the padding goes on the most significant end.
        padded = _pad_to_words(raw, 8, left=sys.byteorder == "big")
        return np.argsort(padded.view(np.dtype("=u8"))[:, 0], kind="stable")
    words = (ks + 7) // 8
    # Big-endian words compare like the bytes they are made of: lexsort on them is memcmp.
    padded = _pad_to_words(raw, words * 8, left=False)
    columns = padded.view(np.dtype(">u8"))
    if words == 1:
        return np.argsort(columns[:, 0], kind="stable")
    return np.lexsort(columns.T[::-1])


def first_u64(dump: MapDump, rows: npt.NDArray[np.intp]) -> U64:
    """The first 8 bytes of each value (each CPU's value for per-CPU maps) as a native-endian
    unsigned integer, shorter values zero-padded like `codec.value_as_u64`: shape
    (len(rows), ncpus)."""
    import numpy as np

    n, ncpus, slot = dump.count, dump.ncpus, dump.slot_size
    width = min(8, dump.value_size)
    if len(rows) == 0 or width == 0:
        return np.zeros((len(rows), ncpus), dtype=np.uint64)
    raw = np.frombuffer(dump.values, dtype=np.uint8, count=n * dump.stride)
    cells = raw.reshape(n, ncpus, slot)[rows, :, :width]
    if width == 8:
        picked = np.ascontiguousarray(cells)
    else:
        picked = np.zeros((len(rows), ncpus, 8), dtype=np.uint8)
        picked[:, :, :width] = cells
    return picked.view(np.dtype("=u8")).reshape(len(rows), ncpus).astype(np.uint64, copy=False)


def _unique_labels(
    labels: list[str], key_bytes: npt.NDArray[np.uint8]
) -> tuple[list[str], list[int], int]:
    """Make label texts unique: later duplicates become `0x<hex>`; returns the labels, the
    indices (into `labels`) that are kept, and how many were renamed."""
    seen: set[str] = set()
    out: list[str] = []
    kept: list[int] = []
    renamed = 0
    for i, label in enumerate(labels):
        if label in seen:
            label = "0x" + key_bytes[i].tobytes().hex()
            if label in seen:
                continue
            renamed += 1
        seen.add(label)
        out.append(label)
        kept.append(i)
    return out, kept, renamed


def export_map(
    info: MapInfo, rule: EtmRule, dump: MapDump, max_entries: int, *, use_btf: bool = True
) -> MapExport:
    """The first `max_entries` entries of a map in key order, keys formatted per the rule.

    A `btf` rule on a map without a BTF key type raises NoKeyType unless `use_btf` is False,
    which exports its keys as hex.
    """
    import numpy as np

    fmt = key_format(rule)
    order = key_order(dump, numeric=fmt is Format.NUMBER)[:max_entries]
    ks = dump.key_size
    picked_keys = _key_matrix(dump)[order] if ks else np.zeros((len(order), 0), np.uint8)
    raw = np.ascontiguousarray(picked_keys).tobytes()
    names: tuple[str, ...] = ()
    fields: list[tuple[str, ...]] = []
    if rule.key_format == "btf" and use_btf:
        decoded = btf_key_labels(info, raw, len(order))
        labels, names, fields = decoded.keys, decoded.field_names, decoded.field_values
    else:
        labels = bulk_format(raw, len(order), ks, fmt)
    renamed = 0
    if len(set(labels)) != len(labels):
        labels, kept, renamed = _unique_labels(labels, picked_keys)
        if names:
            fields = [fields[i] for i in kept]
        if len(kept) != len(order):
            order = order[np.asarray(kept, dtype=np.intp)]
    values = first_u64(dump, order)
    exported = len(labels)
    if rule.key_format == "btf" and use_btf:
        per_field = _field_rows(info, dump, order, labels, names, fields)
        if per_field is not None:
            labels, names, fields, values = per_field
    return MapExport(
        info=info,
        rule=rule,
        count=dump.count,
        keys=labels,
        values=values,
        per_cpu=dump.per_cpu,
        truncated=dump.count - exported,
        renamed=renamed,
        field_names=names,
        field_values=fields,
        key_format=rule.key_format if use_btf or rule.key_format != "btf" else "hex",
    )


def _field_rows(
    info: MapInfo,
    dump: MapDump,
    order: npt.NDArray[np.intp],
    labels: list[str],
    names: tuple[str, ...],
    fields: list[tuple[str, ...]],
) -> tuple[list[str], tuple[str, ...], list[tuple[str, ...]], U64] | None:
    """A btf rule on a map whose value is a struct: one row per (entry, numeric field), the
    field named by a `field` label (padding and char arrays are not fields, so they give no
    sample). None when the value is not a struct with numeric fields (the first 8 bytes are
    exported then, as for other rules). Values keep their sign (an object array of ints)."""
    import numpy as np

    from ..model.btf_fields import map_value_fields
    from ..model.entry_order import field_values

    numeric = [f for f in map_value_fields(info) or [] if f.path]
    if not numeric:
        return None
    n, nf = len(order), len(numeric)
    cpus = dump.ncpus if dump.per_cpu else 1
    cells = np.empty((n, nf, cpus), dtype=object)
    for j, f in enumerate(numeric):
        if n:  # Python ints (signed or not), as the renderer writes them
            cells[:, j, :] = field_values(dump, f)[order].tolist()
    key_rows = fields or [()] * n
    out_labels = [label for label in labels for _ in numeric]
    out_fields = [(*row, f.path) for row in key_rows for f in numeric]
    return out_labels, (*names, FIELD_LABEL), out_fields, cells.reshape(n * nf, cpus)


@dataclass
class WarnOnce:
    """Log a warning about a thing at most once per `every` seconds (not every scrape)."""

    every: float = WARN_EVERY
    clock: Callable[[], float] = time.monotonic
    _last: dict[object, float] = field(default_factory=dict)

    def __call__(self, key: object, message: str, *args: object) -> None:
        now = self.clock()
        last = self._last.get(key)
        if last is None or now - last >= self.every:
            self._last[key] = now
            log.warning(message, *args)

    def forget_except(self, keys: set[object]) -> None:
        """Drop what is known about things that no longer exist."""
        for key in [k for k in self._last if k not in keys]:
            del self._last[key]


class MapEntryExporter:
    """Applies the --etm rules to a snapshot: which maps, which entries, with warnings."""

    def __init__(
        self,
        rules: Sequence[EtmRule],
        max_entries: int,
        read_map: Callable[[int], MapDump],
        warn: WarnOnce | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.max_entries = max_entries
        self.read_map = read_map
        self.warn = warn or WarnOnce()

    def exports(self, snap: Snapshot) -> list[MapExport]:
        out: list[MapExport] = []
        if not self.rules:
            return out
        for map_id, info in sorted(snap.maps.items()):
            rule = first_match(self.rules, map_id, info.name)
            if rule is None:
                continue
            try:
                dump = self.read_map(map_id)
            except NotFound:
                continue  # unloaded since the snapshot: absent, like any vanished map
            except BPFError as exc:
                self.warn(
                    ("unreadable", map_id),
                    "--etm %r matches map %d (%s) but its entries cannot be read: %s",
                    rule.text, map_id, info.name, exc,
                )  # fmt: skip
                continue
            try:
                export = export_map(info, rule, dump, self.max_entries)
            except NoKeyType as exc:
                self.warn(("nobtf", map_id), "--etm %r: %s; exporting its keys as hex",
                          rule.text, exc)  # fmt: skip
                export = export_map(info, rule, dump, self.max_entries, use_btf=False)
            if export.truncated:
                self.warn(
                    ("truncated", map_id),
                    "map %d (%s) has %d entries; exporting the first %d in key order "
                    "(--etm-max-entries %d); see devagent_ebpf_map_entry_truncated",
                    map_id, info.name, export.count, len(export.keys), self.max_entries,
                )  # fmt: skip
            if export.renamed:
                self.warn(
                    ("renamed", map_id),
                    "map %d (%s): %d keys have the same label text as another key in format "
                    "%s; they are exported as 0x<hex>",
                    map_id, info.name, export.renamed, rule.key_format,
                )  # fmt: skip
            out.append(export)
        self.warn.forget_except(
            {
                (kind, i)
                for i in snap.maps
                for kind in ("unreadable", "truncated", "renamed", "nobtf")
            }
        )
        return out
