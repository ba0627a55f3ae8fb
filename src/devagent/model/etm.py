"""`--etm` / `--entries-to-metrics` rules: which maps' entries are exported to Prometheus.

A rule is `<id_start>-<id_end>:<name_regexp>:<key_format>` (CONTRACT.md section 4): either id may
be empty (open range), the regexp is everything between the first and the last colon (so it may
contain colons) and is searched anywhere in the map name (Python `re`, a search, not a full
match), the key format is string, number, hex or btf (ours: keys decoded by their BTF type,
struct fields as `key_<field>` labels), in any case. The first rule that matches a map applies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

KEY_FORMATS = ("string", "number", "hex", "btf")
_ID = re.compile(r"[0-9]+")


class EtmRuleError(ValueError):
    """A malformed rule; the message quotes the rule and names the bad part."""


@dataclass(frozen=True)
class EtmRule:
    """One parsed rule."""

    text: str
    id_start: int | None
    id_end: int | None
    pattern: re.Pattern[str]
    key_format: str  # one of KEY_FORMATS, lower case

    def matches(self, map_id: int, map_name: str) -> bool:
        if self.id_start is not None and map_id < self.id_start:
            return False
        if self.id_end is not None and map_id > self.id_end:
            return False
        return self.pattern.search(map_name) is not None


def _parse_id(text: str, which: str, rule: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if _ID.fullmatch(text) is None:
        raise EtmRuleError(f"--etm {rule!r}: {which} id {text!r} is not a non-negative integer")
    return int(text)


def parse_rule(text: str) -> EtmRule:
    """Parse one rule, raising EtmRuleError that says what is wrong with it."""
    first = text.find(":")
    last = text.rfind(":")
    if first < 0 or first == last:
        raise EtmRuleError(
            f"--etm {text!r}: expected <id_start>-<id_end>:<name_regexp>:<key_format>, "
            "e.g. -:AT_SYSCALLNUM:string (found fewer than two ':')"
        )
    id_range, regexp, fmt = text[:first], text[first + 1 : last], text[last + 1 :]
    start_text, dash, end_text = id_range.partition("-")
    if not dash:
        raise EtmRuleError(
            f"--etm {text!r}: id range {id_range!r} must be <start>-<end> "
            "(either may be empty, e.g. '-' for all ids or '10-' for ids from 10)"
        )
    id_start = _parse_id(start_text, "start", text)
    id_end = _parse_id(end_text, "end", text)
    if id_start is not None and id_end is not None and id_start > id_end:
        raise EtmRuleError(f"--etm {text!r}: id range {id_range!r} is empty (start > end)")
    try:
        pattern = re.compile(regexp)
    except re.error as exc:
        raise EtmRuleError(f"--etm {text!r}: name regexp {regexp!r} is invalid: {exc}") from None
    key_format = fmt.strip().lower()
    if key_format not in KEY_FORMATS:
        raise EtmRuleError(
            f"--etm {text!r}: key format {fmt!r} is not one of {', '.join(KEY_FORMATS)}"
        )
    return EtmRule(text, id_start, id_end, pattern, key_format)


def parse_rules(texts: Sequence[str]) -> tuple[EtmRule, ...]:
    """Parse all rules in order (the first error stops)."""
    return tuple(parse_rule(t) for t in texts)


def first_match(rules: Sequence[EtmRule], map_id: int, map_name: str) -> EtmRule | None:
    """The first rule matching a map, None if no rule exports it."""
    for rule in rules:
        if rule.matches(map_id, map_name):
            return rule
    return None
