"""Kernel symbol names by exact address, from /proc/kallsyms.

A translated program calls helpers and kernel functions by `imm` = address - `__bpf_call_base`,
and its subprograms by the JIT address of their image (`bpf_prog_<tag>_<name>` symbols), so
naming a call means finding the symbol at exactly that address, as bpftool does.

/proc/kallsyms is ~120k lines (~5 MB) that the kernel generates on every read (~50 ms): it is
read once per `KernelSymbols`, and addresses are looked up with a byte search when there are few
of them (each ~2 ms) or through one index built on the first bigger request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

KALLSYMS = "/proc/kallsyms"
_FEW = 24  # up to this many addresses, searching beats indexing all lines
_LINE = re.compile(rb"^([0-9a-f]+) \S (\S+)", re.M)


def _read_kallsyms() -> bytes:
    try:
        with open(KALLSYMS, "rb") as f:
            return f.read()
    except OSError:
        return b""


class KernelSymbols:
    """One read of /proc/kallsyms. Addresses are all zero when kernel.kptr_restrict hides
    them from us; then nothing resolves and `call_base` is None."""

    def __init__(self, text: bytes | None = None) -> None:
        self._text = b"\n" + (_read_kallsyms() if text is None else text)
        self._index: dict[int, str] | None = None
        self._found: dict[int, str | None] = {}
        self._call_base = self._address_of(b"__bpf_call_base")

    @staticmethod
    def read_in_background() -> KernelSymbols:
        """KernelSymbols whose read runs on a worker thread; the first lookup waits for it
        (the read is kernel time and releases the GIL, so decoding can go on meanwhile)."""
        return _BackgroundSymbols()

    @property
    def call_base(self) -> int | None:
        """The address of `__bpf_call_base` (helper call immediates are relative to it)."""
        return self._call_base

    def _address_of(self, name: bytes) -> int | None:
        at = self._text.find(b" " + name + b"\n")
        if at < 0:
            at = self._text.find(b" " + name + b"\t")
        if at < 0:
            return None
        start = self._text.rfind(b"\n", 0, at) + 1
        address = int(self._text[start : self._text.index(b" ", start)], 16)
        return address or None

    def _search(self, address: int) -> str | None:
        key = b"\n%016x " % address
        at = self._text.find(key)
        if at < 0:
            return None
        m = _LINE.match(self._text, at + 1)
        return m.group(2).decode("utf-8", "replace") if m else None

    def _build_index(self) -> dict[int, str]:
        index: dict[int, str] = {}
        for m in _LINE.finditer(self._text):
            address = int(m.group(1), 16)
            if address and address not in index:
                index[address] = m.group(2).decode("utf-8", "replace")
        return index

    def resolve(self, addresses: Iterable[int]) -> dict[int, str]:
        """Names of the symbols at exactly these addresses (absent when there is none)."""
        wanted = {a & 0xFFFFFFFFFFFFFFFF for a in addresses} - {0}
        todo = [a for a in wanted if a not in self._found]
        if todo:
            if self._index is None and len(todo) > _FEW:
                self._index = self._build_index()
            for a in todo:
                self._found[a] = self._index.get(a) if self._index is not None else self._search(a)
        return {a: name for a in wanted if (name := self._found[a]) is not None}

    def name_at(self, address: int) -> str | None:
        """The symbol at exactly `address`, or None."""
        return self.resolve((address,)).get(address & 0xFFFFFFFFFFFFFFFF)


class _BackgroundSymbols(KernelSymbols):
    """KernelSymbols read by a daemon thread, ready on first use."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._loaded = False
        self._thread = threading.Thread(target=self._load, daemon=True, name="kallsyms")
        self._thread.start()

    def _load(self) -> None:
        try:
            super().__init__()
        finally:
            self._ready.set()

    def _wait(self) -> None:
        if not self._loaded:
            self._ready.wait()
            self._loaded = True
            if not hasattr(self, "_text"):  # the read itself failed: resolve nothing
                KernelSymbols.__init__(self, b"")

    @property
    def call_base(self) -> int | None:
        self._wait()
        return self._call_base

    def resolve(self, addresses: Iterable[int]) -> dict[int, str]:
        self._wait()
        return super().resolve(addresses)
