"""The W3C readers on every request a traced caller sends, made cheaper, read exactly what the
implementations they replaced read: parse_traceparent() (slices, where a regular expression
was) on any text and on valid values with characters changed, cut or extended; the tracestate
dd member's reader on any text built from the characters that matter to it."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs_core.propagation.common import add_unique, parse_priority
from llmobs_core.propagation.w3c import _decode_dd_member, parse_traceparent

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


def reference_dd_member(header: str | None) -> tuple[int | None, dict[str, str]]:
    """The tracestate dd member's reader it replaced."""
    if not header or "dd=" not in header:
        return None, {}
    if header.startswith("dd=") and header.count("dd=") == 1:
        member = header.partition(",")[0].rstrip(" \t")[3:]
    else:
        dd = set()
        for member in header.split(","):
            member = member.strip(" \t")
            if member.startswith("dd="):
                dd.add(member[3:])
        if len(dd) != 1:
            return None, {}
        (member,) = dd
    printable = member.isascii() and member.isprintable()
    fields: dict[str, str] = {}
    conflicts: set[str] = set()
    for item in member.split(";"):
        key, sep, value = item.partition(":")
        if (sep and key and value and (printable or (item.isascii() and item.isprintable()))
                and "=" not in item):
            if key in fields or conflicts:
                add_unique(fields, conflicts, key, value)
            else:
                fields[key] = value
    tags = {key[2:]: value.replace("~", "=") for key, value in fields.items()
            if key[:2] == "t."}
    return parse_priority(fields.get("s")), tags


_STATE_PIECES = st.sampled_from(
    ["dd=", "s:", "s:1", "s:-1", "p:b7ad6b7169203331", "t.dm:-0", "t.", "t.a:x~y", "t.a:z",
     ":", ";", ",", "=", "~", " ", "\t", "\x00", "\x7f", "é", "\ud800", "rojo=00f0", "1", "a"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_STATE_PIECES, max_size=14).map("".join))
def test_tracestate_dd_members_are_read_as_before(header):
    assert _decode_dd_member(header) == reference_dd_member(header)

