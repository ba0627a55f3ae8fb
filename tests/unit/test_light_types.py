"""bpf.light_types behaves like the typing.NamedTuple and enum.IntEnum it stands in for at
run time (the type checker sees the real ones)."""

from __future__ import annotations

import pickle
from enum import IntEnum
from typing import NamedTuple

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
