"""The C reader of a caller's W3C headers (propagation/_w3c_native.c) reads every traceparent and
tracestate it takes as w3c.py's Python readers read them, and hands back (None) every other:
on any text, on valid values with characters changed, and on tracestates built from the
pieces that matter to the dd member's grammar. test_w3c_readers.py holds the dispatching
readers (the C path first, where it is built) to the implementations they replaced. A
pure-Python build has no such module: these tests need the compiled build."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs_core.propagation import w3c
from tests.propagation.test_w3c_readers import _CHARACTERS, _STATE_PIECES, VALID

native = pytest.importorskip("llmobs_core.propagation._w3c_native",
                             reason="the pure-Python build has no C header reader")

DDTRACE_STATE = "dd=s:1;p:b7ad6b7169203331;t.dm:-0,rojo=00f067aa0ba902b7"


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), _CHARACTERS), max_size=3),
       st.sampled_from(["00", "01", "ff", "0A"]), st.integers(0, len(VALID)))
def test_traceparents_it_takes_are_read_as_the_python_reader_reads_them(changes, version, cut):
    value = list(version + VALID[2:])
    for position, character in changes:
        value[position] = character
    text = "".join(value)
    for candidate in (text, text + "-x", text[:cut], text[:cut] + text[cut + 1:]):
        taken = native.traceparent(candidate)
        assert taken is None or taken == w3c.python_parse_traceparent(candidate), candidate


@settings(max_examples=1500, deadline=None)
@given(st.lists(_STATE_PIECES, max_size=14).map("".join)
       | st.lists(_STATE_PIECES, max_size=8).map(lambda pieces: "dd=" + "".join(pieces)))
def test_tracestates_it_takes_are_read_as_the_python_reader_reads_them(header):
    taken = native.dd_member(header)
    assert taken is None or taken == w3c.python_decode_dd_member(header), header


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=70) | st.none() | st.binary(max_size=60) | st.integers())
def test_any_value_is_read_as_the_python_readers_read_it_or_handed_back(value):
    for read, python_read in ((native.traceparent, w3c.python_parse_traceparent),
                              (native.dd_member, w3c.python_decode_dd_member)):
        taken = read(value)
        assert taken is None or taken == python_read(value)


def test_the_usual_headers_are_taken() -> None:
    """No stub: ddtrace's traceparent and tracestate, flags of 00 and ff, the largest ids; an
    LLM Observability caller's tags, "~" read as "="; trailing blanks; every priority form."""
    for value in (VALID, VALID[:-2] + "00", VALID[:-2] + "ff",
                  "00-" + "f" * 32 + "-" + "f" * 16 + "-01"):
        assert native.traceparent(value) == w3c.python_parse_traceparent(value) is not None
    for header in (DDTRACE_STATE, "dd=s:2;t.llmobs_ml_app:shop;t.llmobs_sid:a~b~",
                   "dd=s:-1 \t,other=1", "dd=", "dd=s:007;t.:empty key", "dd=s:256;t.x:~",
                   "dd=p:1;s:-255;=x;a=b:c;:v;k:", "dd=s:-0;" + ";".join(f"t.k{i}:{i}"
                                                                      for i in range(40))):
        decoded = native.dd_member(header)
        assert decoded is not None, header
        assert decoded == w3c.python_decode_dd_member(header), header
    assert native.dd_member("dd=t.x:~")[1] == {"x": "="}


def test_a_tilde_becomes_an_equals_sign_without_touching_the_shared_one_character_str():
    """CPython shares one object for each one-character str: the reader writes "=" into a
    copy, never into the "~" that every "~" in the process is."""
    assert native.dd_member("dd=t.a:~;t.b:~~")[1] == {"a": "=", "b": "=="}
    tilde = chr(126)
    assert ord(tilde) == 126  # the shared object still holds "~"


@pytest.mark.parametrize("header", [
    "dd=s:1,dd=s:2",  # two dd members
    "rojo=1,dd=s:1",  # the dd member not first
    "dd=s:1;s:2",  # a key given twice
    "dd=s:1;t.a:x;t.a:x",
    "dd=t.a:é",  # not ASCII
    "dd=t.a:\x01",  # not printable
    "dd=t.a:1,xdd=2",  # "dd=" again, in another member
])
def test_unusual_tracestates_are_handed_back(header) -> None:
    assert native.dd_member(header) is None


@pytest.mark.parametrize("value", [
    VALID.upper(), VALID + "-x", "01" + VALID[2:], " " + VALID[1:], "00-" + "0" * 32 + VALID[35:],
    VALID[:36] + "0" * 16 + VALID[52:], VALID[:52] + "-0g", VALID.replace("-", "_", 1),
    VALID[:10] + "é" + VALID[11:],
])
def test_unusual_traceparents_are_handed_back(value) -> None:
    assert native.traceparent(value) is None


def test_the_readers_dispatch_to_the_c_reader_and_fall_back_to_python() -> None:
    later = "01" + VALID[2:]
    assert w3c.parse_traceparent(later) == w3c.python_parse_traceparent(later) is not None
    assert w3c.parse_traceparent(VALID) == native.traceparent(VALID)
    shared = "rojo=1,dd=s:2;t.a:b"
    assert w3c._decode_dd_member(shared) == w3c.python_decode_dd_member(shared) == (2, {"a": "b"})
