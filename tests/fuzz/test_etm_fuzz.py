"""Property tests of --etm rules (devagent.model.etm): any text parses to a rule or to an
EtmRuleError that quotes it, and a rule written from parts parses back to those parts."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from devagent.model.etm import KEY_FORMATS, EtmRuleError, first_match, parse_rule

IDS = st.one_of(st.none(), st.integers(0, 2**32))
# Regexps that compile, colons included (the regexp is everything between the first and the
# last colon).
REGEXPS = st.sampled_from(["", ".+", "^AT_", "a:b", "x|y", "[0-9]+$", ":", "(?i)flows", "a::b"])


@given(st.text(max_size=60))
def test_any_text_is_a_rule_or_a_clear_error(text: str) -> None:
    try:
        rule = parse_rule(text)
    except EtmRuleError as exc:
        assert repr(text) in str(exc)
    else:
        assert rule.key_format in KEY_FORMATS and rule.text == text


@given(IDS, IDS, REGEXPS, st.sampled_from(KEY_FORMATS), st.booleans())
def test_rules_written_from_parts_parse_back(
    start: int | None, end: int | None, regexp: str, fmt: str, upper: bool
) -> None:
    text = f"{'' if start is None else start}-{'' if end is None else end}:{regexp}:"
    text += fmt.upper() if upper else fmt
    if start is not None and end is not None and start > end:
        try:
            parse_rule(text)
        except EtmRuleError as exc:
            assert "is empty" in str(exc)
            return
        raise AssertionError("an empty id range was accepted")
    rule = parse_rule(text)
    assert (rule.id_start, rule.id_end, rule.pattern.pattern, rule.key_format) == (
        start, end, regexp, fmt,
    )  # fmt: skip


@given(st.integers(0, 2**32), st.text(max_size=15), REGEXPS)
def test_matching_is_a_search_within_the_id_range(map_id: int, name: str, regexp: str) -> None:
    rule = parse_rule(f"{map_id}-{map_id}:{regexp}:hex")
    assert rule.matches(map_id, name) == (re.search(regexp, name) is not None)
    assert not rule.matches(map_id + 1, name)
    assert first_match([rule], map_id, name) == (rule if rule.matches(map_id, name) else None)
