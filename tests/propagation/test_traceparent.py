"""parse_traceparent() reads a traceparent (or traceresponse) with slices instead of a regular
expression: it accepts and rejects exactly what the W3C pattern it replaced did, on any text
and on valid values with each character changed, cut or extended."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs_core.propagation.w3c import parse_traceparent

_PATTERN = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def reference(value: str) -> tuple[int, int, int] | None:
    """The implementation it replaced."""
    match = _PATTERN.fullmatch(value)
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return trace_id, span_id, int(flags_hex, 16)


# What a changed character may become: digits, hex letters in both cases, the separator, a
# newline, whitespace, a sign, an underscore (int() takes "_" and "+"), non-ASCII digits.
_CHARACTERS = st.sampled_from(list("0129afAFg-\n \t+_x") + ["\u0663", "\uff11", "é"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), _CHARACTERS), max_size=3),
       st.sampled_from(["00", "01", "ff", "cc", "0A"]), st.one_of(
           st.just(""), st.text(max_size=6), st.text(_CHARACTERS, max_size=4).map(
               lambda tail: "-" + tail)), st.integers(0, len(VALID)))
def test_changed_valid_values_are_read_as_the_pattern_read_them(changes, version, tail, cut):
    value = list(version + VALID[2:])
    for position, character in changes:
        value[position] = character
    text = "".join(value)
    for candidate in (text, text + tail, text[:cut], text[:cut] + text[cut + 1:]):
        assert parse_traceparent(candidate) == reference(candidate), candidate


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=70))
def test_any_text_is_read_as_the_pattern_read_it(text):
    assert parse_traceparent(text) == reference(text)


def test_the_usual_values():
    assert parse_traceparent(VALID) == (0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, 1)
    later_version = "01" + VALID[2:] + "-future"
    assert parse_traceparent(later_version) == reference(later_version) is not None
    assert parse_traceparent(VALID + "-x") is None  # version 00 has nothing after the flags
    assert parse_traceparent(VALID.upper()) is None
    assert parse_traceparent("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None
