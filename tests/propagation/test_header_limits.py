"""What the headers can hold: the size budget each format keeps (shedding the session, then
ml_app, never the ids) and the characters each format carries."""

from __future__ import annotations

import re

import pytest

from llmobs_core.propagation import extract_dict
from tests.propagation.helpers import (
    APM_TRACE,
    DATADOG,
    MAX_64,
    MAX_128,
    SPAN,
    TRACE,
    W3C,
    as_read,
    dd_member,
    dd_tags,
    llmobs_logs,
    make,
    only,
)

# --- size budget -------------------------------------------------------------------------------

@pytest.mark.parametrize("ml_len, sid_len, ml_kept, sid_kept", [
    (30, 30, (True, True), (True, True)),
    (30, 200, (True, True), (True, False)),
    (30, 400, (True, True), (False, False)),
    (250, 30, (True, False), (True, True)),
    (400, 30, (False, False), (True, True)),
    (300, 300, (True, False), (False, False)),
    (5000, 5000, (False, False), (False, False)),
])
def test_size_budget_sheds_session_then_ml_app_and_keeps_ids(ml_len, sid_len, ml_kept, sid_kept):
    """Over budget, a format keeps ml_app before the session; ids stay; 512/256 never exceeded.

    ml_kept and sid_kept say (in x-datadog-tags, in tracestate).
    """
    ml_app, session = "m" * ml_len, "s" * sid_len
    headers = make(ml_app=ml_app, session_id=session)
    tags, member = dd_tags(headers), dd_member(headers)
    assert len(headers["x-datadog-tags"]) <= 512 and len(headers["tracestate"]) <= 256
    assert (("_dd.p.llmobs_ml_app" in tags), ("t.llmobs_ml_app" in member)) == ml_kept
    assert (("_dd.p.llmobs_sid" in tags), ("t.llmobs_sid" in member)) == sid_kept
    for names in (DATADOG, W3C):
        ctx = extract_dict(only(headers, *names))
        assert (ctx.trace_id, ctx.parent_id, ctx.apm_trace_id) == (TRACE, SPAN, APM_TRACE)
    ctx = extract_dict(headers)
    assert ctx.ml_app == as_read(ml_app)  # over 193 characters, not a valid ml_app
    assert ctx.session_id == (session if sid_len <= 4000 else None)


def test_budget_is_met_with_the_largest_ids():
    """The longest possible ids still leave every header within its limit."""
    headers = make(trace_id=MAX_128, span_id=MAX_64, apm_trace_id=MAX_128,
                   ml_app="m" * 1000, session_id="s" * 1000, sampling_priority=-255)
    assert len(headers["x-datadog-tags"]) <= 512 and len(headers["tracestate"]) <= 256
    assert extract_dict(only(headers, *DATADOG)).trace_id == MAX_128
    assert extract_dict(only(headers, *W3C)).parent_id == MAX_64


def test_shedding_is_logged():
    """Leaving a value out for size says so in a debug log on the "llmobs" logger."""
    with llmobs_logs() as records:
        make(session_id="s" * 600)
    messages = [r.getMessage() for r in records]
    assert any("llmobs_sid left out of x-datadog-tags" in m for m in messages)
    assert any("llmobs_sid left out of tracestate" in m for m in messages)


# --- special characters ------------------------------------------------------------------------

SPECIAL = ["a,b", "a=b", "a;b", "a:b", "a b", "a~b", " lead", "trail ", "é", "日本",
           "%41", "a+b", "tab\tx", "new\nline", '"q"', "back\\slash", "emoji 😀"]


@pytest.mark.parametrize("value", SPECIAL)
def test_special_characters_never_corrupt_headers(value):
    """Every format stays well formed and carries the value exactly or not at all; the receiver
    takes the ml_app only if it is a valid one."""
    headers = make(ml_app=value, session_id=value)
    dd_tags(headers)
    dd_member(headers)
    assert re.fullmatch(r"[!#-+\--:<-\[\]-~]+(,[!#-+\--:<-\[\]-~]+)*", headers["baggage"])
    for names in (DATADOG, W3C):
        ctx = extract_dict(only(headers, *names))
        assert ctx.ml_app in (value, None) and ctx.session_id in (value, None)
        assert ctx.parent_id == SPAN
    ctx = extract_dict(headers)
    assert (ctx.ml_app, ctx.session_id) == (as_read(value), value)


@pytest.mark.parametrize("value, in_datadog, in_w3c", [
    ("a=b", True, True), ("a:b", True, True), ("a b", True, True), ("a,b", False, False),
    ("a;b", True, False), ("a~b", True, False), ("é", False, False), (" lead", False, False),
])
def test_which_format_carries_which_characters(value, in_datadog, in_w3c):
    """Each format carries exactly the values its grammar (and ddtrace's reading) allows."""
    headers = make(session_id=value)
    assert (extract_dict(only(headers, *DATADOG)).session_id == value) is in_datadog
    assert (extract_dict(only(headers, *W3C)).session_id == value) is in_w3c


def test_unencodable_text_is_dropped_not_raised():
    """A session id holding a lone surrogate is left out of every format; inject does not raise."""
    headers = make(session_id="bad\ud800")
    assert extract_dict(headers).session_id is None


def test_baggage_encodes_plus_and_space():
    """Baggage percent-encodes "+" and space, so readers that take "+" as a space agree."""
    assert make(session_id="a+b c")["baggage"].endswith("session.id=a%2Bb%20c")
