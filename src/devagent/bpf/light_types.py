"""typing.NamedTuple's class syntax and enum.IntEnum's named ints, without importing typing
or enum.

`phydev inspect progs list` must start about as fast as bpftool; importing `typing` (which
imports `re`) and `enum` cost ~17 ms of its ~100 ms on the test VM, for nothing but class
syntax. The type checker still sees the real thing: modules import these under

    TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
    if TYPE_CHECKING:
        from typing import NamedTuple as Record
    else:
        from .light_types import Record

(mypy and ruff treat any `TYPE_CHECKING` as true). At run time a Record is exactly what
typing.NamedTuple makes, a collections.namedtuple (which typing uses too), with the class's
methods; an IntConstants member is an int that knows its name.
"""

from __future__ import annotations

from collections import namedtuple


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
        if not bases:  # Record itself
            return super().__new__(mcls, name, bases, namespace)
        annotations = namespace.get("__annotations__", {})
        assert isinstance(annotations, dict)
        fields = tuple(annotations)
        defaults = tuple(namespace[f] for f in fields if f in namespace)
        module = str(namespace.get("__module__", __name__))
        base = namedtuple(name, fields, defaults=defaults or None, module=module)  # type: ignore[misc]
        body = {k: v for k, v in namespace.items() if k not in fields}
        body["__slots__"] = ()
        return type(name, (base,), body)


class Record(metaclass=_RecordMeta):
    """`class X(Record): a: int; b: str = ""` is namedtuple("X", "a b", defaults=("",))
    plus X's own methods and properties, as with typing.NamedTuple."""


class _IntConstantsMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
        cls = super().__new__(mcls, name, bases, namespace)
        if bases != (int,):  # a set of constants: its public int attributes become members
            for key, value in namespace.items():
                if not key.startswith("_") and type(value) is int:
                    member = int.__new__(cls, value)  # type: ignore[arg-type,var-annotated]
                    member.name = key
                    setattr(cls, key, member)
        return cls


class IntConstants(int, metaclass=_IntConstantsMeta):
    """Subclass with `NAME = value` lines: each becomes an int member with `.name`, as
    enum.IntEnum's members (str() and format() give the number, as IntEnum's do)."""

    name: str

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self.name}: {int(self)}>"

    __str__ = int.__repr__
    __format__ = int.__format__
