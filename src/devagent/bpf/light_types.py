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

(mypy and ruff treat any `TYPE_CHECKING` as true). At run time a Record answers as what
typing.NamedTuple makes (a tuple subclass with namedtuple's field accessors, constructor and
methods, built here without importing collections) with the class's own methods; an
IntConstants member is an int that knows its name.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable

try:  # the C accessor namedtuple's fields use (CPython); a property elsewhere
    from _collections import _tuplegetter as _field  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    from operator import itemgetter

    def _field(index: int, doc: str) -> property:
        return property(itemgetter(index), doc=doc)


class _RecordMeta(type):
    """Makes each Record subclass a tuple subclass with namedtuple's attributes and methods.
    Not collections.namedtuple itself: importing collections, then compiling a __new__ per
    class, cost ~4 ms of every `phydev inspect ... list` on the test VM (bench/NOTES.md)."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
        if not bases:  # Record itself
            return super().__new__(mcls, name, bases, namespace)
        annotations = namespace.get("__annotations__", {})
        assert isinstance(annotations, dict)
        fields = tuple(annotations)
        body = {k: v for k, v in namespace.items() if k not in fields}
        body.update(
            __slots__=(),
            _fields=fields,
            _field_defaults={f: namespace[f] for f in fields if f in namespace},
            __match_args__=fields,
        )
        for index, field in enumerate(fields):
            body[field] = _field(index, f"Alias for field number {index}")
        return type(name, (_RecordBase,), body)


class _RecordBase(tuple):  # type: ignore[type-arg]
    """What every Record class shares: namedtuple's constructor and methods."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _field_defaults: dict[str, object] = {}  # noqa: RUF012 (each class sets its own)

    def __new__(cls, *args: object, **kwargs: object) -> _RecordBase:
        if kwargs or len(args) != len(cls._fields):
            args = cls._bind(args, kwargs)
        return tuple.__new__(cls, args)

    @classmethod
    def _bind(cls, args: tuple[object, ...], kwargs: dict[str, object]) -> tuple[object, ...]:
        """The field values of a call with keywords, defaults or a wrong count (TypeError
        as a function with these parameters would raise)."""
        fields, name = cls._fields, cls.__name__
        if len(args) > len(fields):
            raise TypeError(f"{name}() takes {len(fields)} arguments but {len(args)} were given")
        values = dict(zip(fields, args, strict=False))
        for key, value in kwargs.items():
            if key not in fields:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{name}() got multiple values for argument {key!r}")
            values[key] = value
        missing = [f for f in fields if f not in values and f not in cls._field_defaults]
        if missing:
            raise TypeError(f"{name}() missing required arguments: {', '.join(missing)}")
        return tuple(values[f] if f in values else cls._field_defaults[f] for f in fields)

    @classmethod
    def _make(cls, iterable: Iterable[object]) -> _RecordBase:
        values = tuple(iterable)
        if len(values) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(values)}")
        return tuple.__new__(cls, values)

    def _replace(self, **changes: object) -> _RecordBase:
        values = self._asdict()
        for key in changes:
            if key not in values:
                raise ValueError(f"Got unexpected field names: {[key]!r}")
        values.update(changes)
        return tuple.__new__(type(self), values.values())

    def _asdict(self) -> dict[str, object]:
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        pairs = ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True))
        return f"{type(self).__name__}({pairs})"

    def __getnewargs__(self) -> tuple[object, ...]:
        return tuple(self)


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
