"""Paging through map entries: one whole-map read and one sort serve every page.

The first page (offset 0) and entriesCount want fresh data, so a read older than
`fresh_age` is redone for them; later pages reuse the read for up to `paging_age` seconds so
that paging through a million entries neither re-reads the map per page nor reshuffles
entries between pages. Keys are sorted numerically for NUMBER, by byte order (which is the
HEX text order) for HEX and BTF, and by the text for STRING.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..bpf.info import MapInfo
from ..bpf.map_types import can_list, is_always_full
from ..bpf.maps import MapDump
from ..model.btf_fields import map_value_fields as value_fields
from ..model.codec import CodecError, Format, bulk_format, format_bytes, parse_text, sort_order
from ..model.entry_order import EntryView, OrderError, choose, field_totals, totals
from ..model.inventory import Inventory
from ..runtime.memory import later, release_free_memory

if TYPE_CHECKING:  # numpy loads when a map is first paged (codec.sort_order)
    import numpy as np
    import numpy.typing as npt

BTF = "BTF"
KeyTest = Callable[[bytes], bool]


class EntriesError(ValueError):
    """A request for entries that cannot be answered as asked (bad paging, no BTF, ...)."""


@dataclass
class _Read:
    at: float
    dump: MapDump
    orders: dict[object, npt.NDArray[np.intp]] = field(default_factory=dict)


def _codec_format(name: str) -> Format:
    return Format.HEX if name == BTF else Format(name)


class EntryPager:
    """Cached, sorted whole-map reads for the `entries` and `entriesCount` fields."""

    def __init__(
        self,
        inventory: Inventory,
        *,
        fresh_age: float = 1.0,
        paging_age: float = 30.0,
        max_maps: int = 4,
        max_rendered: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[float, Callable[[], None]], None] | None = None,
    ) -> None:
        self._inventory = inventory
        self._fresh_age = fresh_age
        self._paging_age = paging_age
        self._max_maps = max_maps
        self._max_rendered = max_rendered
        self._clock = clock
        self._lock = threading.Lock()
        self._reads: OrderedDict[int, _Read] = OrderedDict()
        self._schedule = schedule or later

    def _read(self, map_id: int, fresh: bool) -> _Read:
        max_age = self._fresh_age if fresh else self._paging_age
        with self._lock:
            cached = self._reads.get(map_id)
            if cached is not None and self._clock() - cached.at < max_age:
                self._reads.move_to_end(map_id)
                return cached
        dump = self._inventory.map_dump(map_id)  # single-flight per map inside the inventory
        read = _Read(self._clock(), dump)
        with self._lock:
            self._reads[map_id] = read
            self._reads.move_to_end(map_id)
            while len(self._reads) > self._max_maps:
                self._reads.popitem(last=False)
        # Nothing reads the kernel in the background; this only lets go of memory once the
        # read can no longer serve a page, so an idle server shrinks back.
        self._schedule(self._paging_age, self.drop_expired)
        return read

    def drop_expired(self) -> None:
        """Forget reads older than `paging_age` (and the inventory's stale ones)."""
        now = self._clock()
        with self._lock:
            expired = [m for m, r in self._reads.items() if now - r.at >= self._paging_age]
            for map_id in expired:
                del self._reads[map_id]
        self._inventory.drop_stale_dumps()
        if expired:
            release_free_memory()

    def forget(self, map_id: int) -> None:
        """Drop the cached read of a map (after a mutation wrote to it)."""
        with self._lock:
            self._reads.pop(map_id, None)

    def count(self, info: MapInfo) -> int:
        """Entries in the map now (0 for types whose entries cannot be listed)."""
        if is_always_full(info):
            return info.max_entries  # no need to read a whole array to know
        if not can_list(info):
            return 0
        return self._read(info.id, fresh=True).dump.count

    def page(
        self,
        info: MapInfo,
        offset: int,
        limit: int,
        key_format: str,
        value_format: str,
        charge: Callable[[int], None] | None = None,
        view: EntryView | None = None,
    ) -> list[dict[str, Any]]:
        """Entries [offset, offset+limit) in key order, or in the order `view` asks for (by
        value, a field, the per-CPU sum; the top N; keys matching a search), formatted for
        GraphQL's MapEntry (`total`: the per-CPU sum). `charge` is told the answer bytes the
        page will take (about: hex text and JSON punctuation) before any is formatted, and
        may refuse by raising."""
        if not can_list(info):
            return []
        key_text = self._formatter(info, "key", key_format)
        value_text = self._formatter(info, "value", value_format)
        read = self._read(info.id, fresh=offset == 0)
        dump = read.dump
        if view is None or view.is_plain:
            order = self._order(read, key_format)
        else:
            order = self._view_order(info, read, key_format, view)
        if charge is not None:
            entries = max(0, min(limit, len(order) - offset))
            values = dump.ncpus if dump.per_cpu else 1
            charge(entries * (40 + 2 * dump.key_size + values * (4 + 2 * dump.value_size)))
        rows = order[offset : offset + limit]
        sums = self._totals(info, dump, rows, value_format)
        page = []
        for n, i in enumerate(rows.tolist()):
            if dump.per_cpu:
                value = None
                cpu_values = [value_text(v) for v in dump.cpu_values(i)]
            else:
                value = value_text(dump.value(i))
                cpu_values = []
            page.append({"key": key_text(dump.key(i)), "value": value,
                         "cpuValues": cpu_values, "total": sums[n]})  # fmt: skip
        return page

    def _totals(
        self, info: MapInfo, dump: MapDump, rows: npt.NDArray[np.intp], value_format: str
    ) -> list[str | None]:
        """Each row's per-CPU sum as text: a number, or for BTF struct values the JSON of
        each numeric field's sum; None for plain maps and values with no number."""
        if not dump.per_cpu or not len(rows):
            return [None] * len(rows)
        fields = value_fields(info) if value_format == BTF else None
        if fields and not (len(fields) == 1 and not fields[0].path):
            import orjson

            return [orjson.dumps(t).decode() for t in field_totals(dump, rows, fields)]
        sums = totals(dump, rows)
        return [None] * len(rows) if sums is None else [str(v) for v in sums]

    def _view_order(
        self, info: MapInfo, read: _Read, key_format: str, view: EntryView
    ) -> npt.NDArray[np.intp]:
        """Entry indexes as `view` asks (computed once per read and view)."""
        cache_key = (key_format, view)
        with self._lock:
            order = read.orders.get(cache_key)
        if order is not None:
            return order
        dump = read.dump
        key_texts = None
        if view.search:
            if (view.search_format or key_format) == BTF and dump.count > self._max_rendered:
                raise EntriesError(
                    f"map {info.id} holds {dump.count} entries: a search through BTF keys "
                    f"renders each one, and at most {self._max_rendered} are (search HEX, "
                    "STRING or NUMBER keys instead, which need no rendering)"
                )
            key_texts = self._key_texts(info, dump, view.search_format or key_format)
        fields = value_fields(info) if view.sort not in ("key", "value", "sum") else None
        try:
            order = choose(dump, view, self._order(read, key_format), fields=fields,
                           key_texts=key_texts)  # fmt: skip
        except OrderError as exc:
            raise EntriesError(f"map {info.id}: {exc}") from None
        with self._lock:
            read.orders[cache_key] = order
        return order

    @staticmethod
    def _key_texts(info: MapInfo, dump: MapDump, key_format: str) -> Callable[[], list[str]]:
        if key_format != BTF:
            fmt = Format(key_format)
            return lambda: bulk_format(dump.keys, dump.count, dump.key_size, fmt)
        render = btf_formatter(info, "key")
        return lambda: [render(dump.key(i)) for i in range(dump.count)]

    def _order(self, read: _Read, key_format: str) -> npt.NDArray[np.intp]:
        """Entry indexes in the key order of `key_format` (sorted once per read)."""
        with self._lock:
            order = read.orders.get(key_format)
        if order is None:
            dump = read.dump
            order = sort_order(dump.keys, dump.count, dump.key_size, _codec_format(key_format))
            with self._lock:
                read.orders[key_format] = order
        return order

    def position(self, info: MapInfo, key_text: str, key_format: str) -> int | None:
        """Where the entry with this key stands in the order `page` uses for `key_format`
        (so `offset = position` shows it), from the read that paging uses; None when the map
        holds no such key. A BTF key is given as the JSON `page` shows (spacing is free)."""
        if not can_list(info):
            return None
        read = self._read(info.id, fresh=False)
        index = _find_key(read.dump, self._key_matcher(info, key_text, key_format))
        if index is None:
            return None
        import numpy as np

        return int(np.flatnonzero(self._order(read, key_format) == index)[0])

    @staticmethod
    def _key_matcher(info: MapInfo, text: str, key_format: str) -> bytes | KeyTest:
        """The key's bytes, or for BTF a test on each key's bytes (BTF text cannot be parsed
        back into bytes, so keys are rendered and compared)."""
        if key_format != BTF:
            try:
                return parse_text(text, Format(key_format), info.key_size)
            except CodecError as exc:
                raise EntriesError(f"key {text!r}: {exc}") from None
        import orjson

        try:
            wanted = orjson.dumps(orjson.loads(text)).decode()
        except orjson.JSONDecodeError:
            raise EntriesError(f"key {text!r} is not JSON (write BTF keys as shown)") from None
        render = btf_formatter(info, "key")
        return lambda data: render(data) == wanted

    @staticmethod
    def _formatter(info: MapInfo, part: str, fmt: str) -> Callable[[bytes], str]:
        if fmt != BTF:
            codec_fmt = Format(fmt)
            return lambda data: format_bytes(data, codec_fmt)
        return btf_formatter(info, part)


def _find_key(dump: MapDump, key: bytes | KeyTest) -> int | None:
    """Index of the entry whose key is `key` (or passes the test), None when there is none."""
    if callable(key):
        return next((i for i in range(dump.count) if key(dump.key(i))), None)
    if dump.count == 0:
        return None
    import numpy as np

    keys = np.frombuffer(dump.keys, dtype=f"V{dump.key_size}", count=dump.count)
    hits = np.flatnonzero(keys == np.void(key))
    return int(hits[0]) if hits.size else None


def btf_formatter(info: MapInfo, part: str) -> Callable[[bytes], str]:
    """Render keys or values through the map's BTF type, as compact JSON text."""
    import orjson

    from ..bpf.btf.types import BTFError
    from ..model.btf_entries import load_map_btf
    from ..model.btf_render import compile_renderer

    if part == "key":
        type_id = info.btf_key_type_id
    else:
        type_id = info.btf_value_type_id or info.btf_vmlinux_value_type_id
    btf = load_map_btf(info)
    if btf is None or not type_id:
        raise EntriesError(
            f"map {info.id} has no BTF type for its {part}s: use HEX, STRING or NUMBER"
        )
    try:
        render = compile_renderer(btf, type_id)
    except BTFError as exc:
        raise EntriesError(f"map {info.id}: cannot render its {part}s by BTF: {exc}") from None
    return lambda data: orjson.dumps(render(data)).decode()
