"""bpf.light_types behaves like the typing.NamedTuple and enum.IntEnum it stands in for at
run time (the type checker sees the real ones)."""

from __future__ import annotations

import pickle
from enum import IntEnum
from typing import NamedTuple

import pytest

from devagent.bpf._sys import Cmd
from devagent.bpf.info import ObjectError, ProgramInfo
from devagent.bpf.light_types import IntConstants, Record


class Real(NamedTuple):
    a: int
    b: str = "x"

    @property
    def twice(self) -> int:
        return self.a * 2


class Light(Record):
    a: int
    b: str = "x"

    @property
    def twice(self) -> int:
        return self.a * 2


def test_record_answers_as_a_named_tuple() -> None:
    real, light = Real(3), Light(3)
    assert light == real == (3, "x") and hash(light) == hash(real)
    assert repr(light) == repr(real).replace("Real", "Light")
    assert Light._fields == Real._fields and Light._field_defaults == Real._field_defaults
    assert light.twice == real.twice == 6
    replaced = light._replace(b="y")
    assert type(replaced) is Light and replaced == (3, "y")
    assert type(Light._make((1, "z"))) is Light
    assert light._asdict() == {"a": 3, "b": "x"}
    assert pickle.loads(pickle.dumps(light)) == light
    assert isinstance(light, tuple) and not hasattr(light, "__dict__")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {"a": 1}), ((1,), {"b": "y"}), ((), {"b": "y", "a": 2}), ((1, "y"), {}),
     ((), {}), ((1, "y", 3), {}), ((1,), {"a": 2}), ((1,), {"c": 3})],
)  # fmt: skip
def test_record_binds_arguments_as_the_named_tuple_does(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    """Keywords, defaults, and a TypeError for a missing, extra or repeated argument."""
    try:
        expected: object = tuple(Real(*args, **kwargs))  # type: ignore[arg-type]
    except TypeError:
        expected = TypeError
    try:
        got: object = tuple(Light(*args, **kwargs))  # type: ignore[arg-type]
    except TypeError:
        got = TypeError
    assert got == expected


def test_record_make_and_replace_refuse_what_the_named_tuple_refuses() -> None:
    for record in (Real, Light):
        with pytest.raises(TypeError):
            record._make((1,))
        with pytest.raises(ValueError, match="unexpected field names"):
            record(1)._replace(c=2)  # type: ignore[call-arg]
    assert Light.a.__doc__ == Real.a.__doc__ and Light.__match_args__ == Real.__match_args__


def test_the_info_records_are_light_at_run_time() -> None:
    error = ObjectError(7, "map", "gone")
    assert pickle.loads(pickle.dumps(error)) == error and type(error).__mro__[-2] is tuple
    assert ProgramInfo._fields[:3] == ("id", "type", "name")


class RealCmd(IntEnum):
    MAP_CREATE = 0
    PROG_LOAD = 5


def test_int_constants_answer_as_int_enum_members() -> None:
    class LightCmd(IntConstants):
        MAP_CREATE = 0
        PROG_LOAD = 5

    for real, light in (
        (RealCmd.PROG_LOAD, LightCmd.PROG_LOAD),
        (RealCmd.MAP_CREATE, Cmd.MAP_CREATE),
    ):
        assert light == real and int(light) == int(real) and hash(light) == hash(real)
        assert light.name == real.name
        assert str(light) == str(real) and f"{light}" == f"{real}" and f"{light:>3}" == f"{real:>3}"
        assert {light: 1}[int(real)] == 1
    assert (
        repr(LightCmd.PROG_LOAD)
        == "<LightCmd.PROG_LOAD: 5>"
        == repr(RealCmd.PROG_LOAD).replace("Real", "Light")
    )
    assert isinstance(Cmd.PROG_GET_NEXT_ID, Cmd) and Cmd.PROG_GET_NEXT_ID.name == "PROG_GET_NEXT_ID"
