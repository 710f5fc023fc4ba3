"""The C OTLP span writer (export/_otlp_native.c) writes, for every span it takes, the bytes
_otlp_wire.python_span() writes for it, and hands back every other span (None): on
hypothesis-drawn ids, times, names and attributes with every type of value, hostile text
(surrogates, every plane) and varint lengths of one to three bytes. The Python path is held to
opentelemetry-proto's own classes by test_otlp_wire.py. A pure-Python build has no such
module: these tests need the compiled build (make test's first run)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.export import _otlp_wire as wire

native = pytest.importorskip("llmobs_core.export._otlp_native",
                             reason="the pure-Python build has no C OTLP writer")

_MAX_128 = (1 << 128) - 1
_MAX_64 = (1 << 64) - 1


def _python_and_native(*args: Any) -> tuple[Any, Any]:
    """python_span()'s bytes (or the exception type it raises), and the C writer's."""
    try:
        expected: Any = wire.python_span(*args)
    except Exception as exc:
        expected = type(exc)
    return expected, native.span(*args)


def _written(*args: Any) -> bytes:
    expected, written = _python_and_native(*args)
    assert written is not None, "the C writer handed back a span it should take"
    assert written == expected
    return written


def _span(attributes: dict[str, Any], **changes: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = dict(
        trace_id=(1 << 127) + 5, span_id=7, parent_id=9, name="chat", kind="client",
        start_ns=1_700_000_000_000_000_000, end_ns=1_700_000_000_000_000_500,
        fixed=wire.attributes(wire.ATTRIBUTE, {"llmobs.span.kind": "llm"}),
        attributes=attributes, error=None)
    fields.update(changes)
    return tuple(fields.values())


_text = st.text() | st.sampled_from(["lone \ud800", "\udfff\ud83d", "é ✓ 漢 \U0001f600",
                                     "x" * 127, "y" * 128, "é" * 8_200])
_atoms = st.one_of(_text, st.booleans(), st.floats(), st.integers(-(1 << 63), (1 << 63) - 1))
_covered = st.recursive(_atoms, lambda inner: st.lists(inner, max_size=4)
                        | st.lists(inner, max_size=4).map(tuple), max_leaves=12)
# Ints beyond int64 (which the Python path writes as their text) among the rest.
_others = st.one_of(st.none(), st.binary(max_size=4), st.complex_numbers(), st.integers(),
                    st.integers(-(1 << 70), 1 << 70),
                    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
_anything = st.recursive(_atoms | _others, lambda inner: st.lists(inner, max_size=4)
                         | st.lists(inner, max_size=4).map(tuple), max_leaves=12)


@settings(max_examples=1_500, deadline=None, suppress_health_check=list(HealthCheck))
@given(trace_id=st.integers(0, _MAX_128), span_id=st.integers(0, _MAX_64),
       parent_id=st.none() | st.integers(0, _MAX_64), name=_text,
       kind=st.sampled_from(["internal", "client"]), start_ns=st.integers(0, _MAX_64),
       end_ns=st.integers(0, _MAX_64), fixed=st.binary(max_size=40),
       attributes=st.dictionaries(_text, _covered, max_size=6))
def test_spans_of_the_types_it_covers_are_written_as_the_python_path_writes_them(
        trace_id, span_id, parent_id, name, kind, start_ns, end_ns, fixed, attributes) -> None:
    _written(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, fixed, attributes,
             None)


_ids = st.one_of(st.integers(-3, _MAX_128 + 3), st.just(True), st.just(2.0), st.just("7"))
_error = st.none() | st.just(("ValueError: bad", {"exception.type": "ValueError"}))


@settings(max_examples=1_500, deadline=None, suppress_health_check=list(HealthCheck))
@given(trace_id=_ids, span_id=_ids, parent_id=st.none() | _ids, name=_text | _others,
       kind=st.sampled_from(["internal", "client", "server", ""]) | _others,
       start_ns=_ids, end_ns=_ids, fixed=st.binary(max_size=8) | st.just(bytearray(b"x")),
       attributes=st.dictionaries(_text | st.integers(), _anything, max_size=5) | _others,
       error=_error)
def test_any_span_is_written_as_the_python_path_writes_it_or_handed_back(
        trace_id, span_id, parent_id, name, kind, start_ns, end_ns, fixed, attributes,
        error) -> None:
    expected, written = _python_and_native(trace_id, span_id, parent_id, name, kind, start_ns,
                                           end_ns, fixed, attributes, error)
    assert written is None or written == expected


def test_the_common_spans_are_taken() -> None:
    """No stub: an llm span's messages and metrics, a root workflow without attributes, a
    parent id of 0 (left out, as the Python path leaves it), the widest ids and times."""
    _written(*_span({"input.value": '[{"role": "user", "content": "hi"}]',
                     "llm.input_messages.0.message.role": "user",
                     "gen_ai.usage.input_tokens": 21, "llm.token_count.total": 300,
                     "metadata": "{}", "tag.tags": ["a:b", "c:d"], "ratio": 0.25,
                     "flag": True}))
    _written(*_span({}, kind="internal", parent_id=None, name="answer"))
    _written(*_span({"k": "v"}, parent_id=0))
    _written(*_span({"int64 max": (1 << 63) - 1, "int64 min": -(1 << 63), "list": [-1, 0]}))
    _written(*_span({"k": "v"}, trace_id=_MAX_128, span_id=_MAX_64, parent_id=_MAX_64,
                    start_ns=0, end_ns=_MAX_64))


@pytest.mark.parametrize("length", [0, 1, 115, 116, 117, 127, 128, 16_380, 16_384, 2_100_000])
def test_every_length_class_of_a_value_is_written_as_the_python_path_writes_it(length) -> None:
    """Around the lengths where a KeyValue's or a value's varint grows by a byte, in ASCII
    and in two-byte UTF-8, and past the 2 KiB the writer keeps on its stack."""
    for text in ("a" * length, "é" * (length // 2)):
        _written(*_span({"key": text, "list": [text, [text]]}))


@pytest.mark.parametrize("value", [  # ints beyond int64 too, written as their text
    None, b"bytes", 12j, {"a": 1}, ["x", None], ("x", [b"y"]), 1.5 + 0j, object(), 1 << 63,
    -(1 << 63) - 1, [1, 1 << 70]])
def test_values_the_python_path_writes_as_their_str_are_handed_back(value) -> None:
    assert native.span(*_span({"k": "v", "other": value})) is None


class _Text(str):
    pass


class _Int(int):
    pass


@pytest.mark.parametrize("changes", [
    {"error": ("ValueError: bad", {"exception.type": "ValueError"})},
    {"trace_id": -1}, {"trace_id": 1 << 128}, {"span_id": 1 << 64}, {"parent_id": -2},
    {"start_ns": -1}, {"end_ns": 1 << 64}, {"trace_id": True}, {"span_id": _Int(3)},
    {"name": _Text("chat")}, {"name": None}, {"kind": "server"}, {"kind": _Text("client")},
    {"fixed": bytearray(b"\x4a\x00")}, {"attributes": [("k", "v")]},
    {"attributes": {_Text("k"): "v"}}, {"attributes": {1: "v"}},
    {"attributes": {"k": _Text("v")}}, {"attributes": {"k": _Int(1)}},
])
def test_what_it_does_not_cover_is_handed_back(changes) -> None:
    args = dict(zip(("trace_id", "span_id", "parent_id", "name", "kind", "start_ns", "end_ns",
                     "fixed", "attributes", "error"), _span({"k": "v"})))
    args.update(changes)
    assert native.span(*args.values()) is None


def test_nesting_past_its_bound_is_handed_back_and_a_cycle_cannot_loop() -> None:
    deep: list[Any] = ["leaf"]
    for _ in range(80):
        deep = [deep]
    assert native.span(*_span({"deep": deep})) is None
    looped: list[Any] = []
    looped.append(looped)
    assert native.span(*_span({"loop": looped})) is None
    shallow: list[Any] = ["leaf"]
    for _ in range(30):
        shallow = [shallow]
    _written(*_span({"shallow": shallow}))


def test_span_dispatches_to_the_c_writer_and_falls_back_to_python() -> None:
    common = _span({"k": "v"})
    assert wire.span(*common) == native.span(*common)
    with_error = _span({"k": "v"}, error=("E: m", {"exception.type": "E"}))
    assert native.span(*with_error) is None
    assert wire.span(*with_error) == wire.python_span(*with_error)


def test_bad_arguments_raise_a_type_error() -> None:
    with pytest.raises(TypeError, match="10 arguments"):
        native.span(1, 2, 3)
