"""`--etm` rule parsing and matching (CONTRACT.md section 4)."""

from __future__ import annotations

import pytest

from devagent.model.etm import EtmRuleError, first_match, parse_rule, parse_rules


def test_seed_example() -> None:
    rule = parse_rule("-:AT_SYSCALLNUM:string")
    assert (rule.id_start, rule.id_end, rule.key_format) == (None, None, "string")
    assert rule.pattern.pattern == "AT_SYSCALLNUM"
    assert rule.matches(25, "AT_SYSCALLNUM")
    assert not rule.matches(25, "AT_OTHER")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("-:x:hex", None, None), ("10-:x:hex", 10, None), ("-20:x:hex", None, 20),
     ("5-5:x:hex", 5, 5), (" 3 - 7 :x:hex", 3, 7)],
)  # fmt: skip
def test_open_and_closed_id_ranges(text: str, start: int | None, end: int | None) -> None:
    rule = parse_rule(text)
    assert (rule.id_start, rule.id_end) == (start, end)


def test_id_range_bounds_are_inclusive() -> None:
    rule = parse_rule("10-20:.*:number")
    assert [i for i in (9, 10, 15, 20, 21) if rule.matches(i, "m")] == [10, 15, 20]
    assert parse_rule("10-:.*:number").matches(10**9, "m")
    assert not parse_rule("-20:.*:number").matches(21, "m")


def test_regexp_is_everything_between_first_and_last_colon() -> None:
    rule = parse_rule("-:a:b|c::d:hex")
    assert rule.pattern.pattern == "a:b|c::d"
    assert rule.matches(1, "xa:by")
    assert rule.matches(1, "c::d")
    assert not rule.matches(1, "a")


def test_regexp_is_a_search_and_dot_plus_skips_unnamed_maps() -> None:
    assert parse_rule("-:SYSCALL:string").matches(1, "AT_SYSCALLNUM")
    assert parse_rule("-:^AT_:string").matches(1, "AT_x")
    assert not parse_rule("-:^AT_:string").matches(1, "xAT_")
    assert not parse_rule("-:.+:hex").matches(1, "")
    assert parse_rule("-::hex").matches(1, "")  # empty regexp: every map, named or not


@pytest.mark.parametrize(
    "fmt", ["string", "STRING", "String", "number", "NUMBER", "hex", "Hex", "btf", "BTF"]
)
def test_key_formats_in_any_case(fmt: str) -> None:
    assert parse_rule(f"-:m:{fmt}").key_format == fmt.lower()


def test_first_matching_rule_wins() -> None:
    rules = parse_rules(["-10:^AT_:number", "-:^AT_:string", "-:.+:hex"])
    assert first_match(rules, 5, "AT_x") is rules[0]
    assert first_match(rules, 11, "AT_x") is rules[1]
    assert first_match(rules, 11, "flows") is rules[2]
    assert first_match(rules, 11, "") is None
    assert first_match((), 1, "AT_x") is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("AT_SYSCALLNUM", "fewer than two ':'"),
        ("-:AT_x", "fewer than two ':'"),
        ("5:AT_x:string", "id range '5' must be <start>-<end>"),
        ("a-:AT_x:string", "start id 'a'"),
        ("-b:AT_x:string", "end id 'b'"),
        ("1-2-3:m:hex", "end id '2-3'"),
        ("²-:m:hex", "start id '²'"),
        ("9-3:m:hex", "is empty (start > end)"),
        ("-:AT_(:string", "name regexp 'AT_(' is invalid"),
        ("-:m:", "key format '' is not one of string, number, hex, btf"),
        ("-:m:decimal", "key format 'decimal' is not one of string, number, hex, btf"),
    ],
)
def test_malformed_rules_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(EtmRuleError) as info:
        parse_rule(text)
    assert says in str(info.value)
    assert repr(text) in str(info.value)


def test_parse_rules_stops_at_the_first_bad_rule() -> None:
    with pytest.raises(EtmRuleError, match="'-:x:bad'"):
        parse_rules(["-:ok:hex", "-:x:bad", "also bad"])
