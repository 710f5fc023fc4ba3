"""The C event writer (export/_span_json_native.c) writes, for every record it takes, the bytes
SpanJSON's Python path writes for it, and hands back every other record (None) untouched: on
hypothesis-drawn records with hostile values in every field, on strings with an escape at
every place an 8-byte word can put it, on the integers and floats at the edges of what orjson
writes, on deep nesting and on events larger than its stack buffer. A pure-Python build has no
such module: these tests need the compiled build (make test's first run, where conftest.py
holds the run to it)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.export._span_json import SpanJSON
from llmobs_core.span_events import EventBuilder
from tests.support.records import (
    FLAT_FIELDS,
    plain_records,
    record_from_flat,
    record_of,
    records,
)

native = pytest.importorskip("llmobs_core.export._span_json_native",
                             reason="the pure-Python build has no C event writer")

STATIC_TAGS = ["env:prod", "version:1.2", "é\"\\\n"]


def _python_and_native(record: tuple[Any, ...], static_tags: list[str] = STATIC_TAGS
                       ) -> tuple[Any, Any]:
    """What the Python path makes of the record (its bytes, or the exception type it raises)
    and what the C writer makes of it (bytes or None)."""
    builder = EventBuilder(static_tags)
    try:
        expected: Any = SpanJSON(builder, native=False).encode(record)
    except Exception as exc:
        expected = type(exc)
    written = native.event(record, SpanJSON(builder)._static_tags)
    return expected, written


def _record(**changes: Any) -> tuple[Any, ...]:
    """The README's annotated llm span, with `changes`."""
    fields: dict[str, Any] = dict(
        kind="llm", name="chat", trace_id=(1 << 127) + 5, span_id=7, parent_id=9,
        apm_trace_id=(1 << 127) + 5, ml_app="shop", session_id="s-1", model_name="gpt-4o",
        model_provider="OpenAI", start_ns=1_700_000_000_000_000_000, duration_ns=5,
        error=None, input=({"role": "user", "content": "hi"},),
        output=({"role": "assistant", "content": "ok"},),
        metadata={"temperature": 0.2, "max_tokens": 64}, metrics={"input_tokens": 3},
        tags=None, tool_definitions=None, sample_rate=1.0, extras=None, pagent=None)
    fields.update(changes)
    return record_from_flat([fields[name] for name in FLAT_FIELDS])


def _written(record: tuple[Any, ...]) -> bytes:
    expected, written = _python_and_native(record)
    assert written is not None, "the C writer handed back a record it should take"
    assert written == expected
    return written


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(plain_records, records))
def test_any_record_is_written_as_the_python_path_writes_it_or_handed_back(fields) -> None:
    expected, written = _python_and_native(record_of(fields))
    assert written is None or written == expected


# Records of the shapes the C writer takes, with any text (control characters, quotes,
# surrogates, every plane) and any JSON-like value in the messages: most are written by it.
_text = st.text()
_scalars = st.one_of(st.none(), st.booleans(), st.floats(), _text,
                     st.integers(-(1 << 63), (1 << 64) - 1), st.integers())
_json_like = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
    st.dictionaries(_text, inner, max_size=3)), max_leaves=12)
_messages = st.lists(st.dictionaries(_text, _json_like, max_size=3), max_size=3).map(tuple)
_kind_and_io = st.one_of(
    st.tuples(st.just("llm"), st.none() | _messages, st.none() | _messages),
    st.tuples(st.sampled_from(["workflow", "agent", "tool", "task", "embedding"]),
              st.none(), st.none() | _text),
    st.tuples(st.sampled_from(["workflow", "agent", "tool", "task", "retrieval"]),
              st.none() | _text, st.none()))
taken_records = st.builds(
    lambda kind_and_io, **fields: _record(kind=kind_and_io[0], input=kind_and_io[1],
                                          output=kind_and_io[2], **fields),
    _kind_and_io,
    name=_text, ml_app=_text, session_id=st.none() | _text,
    model_name=st.none() | _text, model_provider=st.none() | _text,
    trace_id=st.integers(0, (1 << 128) - 1), span_id=st.integers(0, (1 << 64) - 1),
    parent_id=st.none() | st.integers(0, (1 << 64) - 1),
    start_ns=st.integers(-(1 << 63), (1 << 64) - 1), duration_ns=st.integers(0, 1 << 40),
    metadata=st.none() | st.dictionaries(_text, _scalars, max_size=4),
    metrics=st.none() | st.dictionaries(_text, _scalars, max_size=4),
    tags=st.none() | st.dictionaries(_text, _text | st.integers(), max_size=3)
    | st.lists(st.tuples(_text, _text), max_size=3).map(
        lambda pairs: tuple(item for pair in pairs for item in pair)))


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(taken_records)
def test_records_of_the_shapes_it_takes_are_written_as_the_python_path_writes_them(
        record) -> None:
    expected, written = _python_and_native(record)
    assert written is None or written == expected


def test_the_common_records_are_taken() -> None:
    """The C writer is no stub: the README's unit, a workflow, a tool with text in and out,
    an adapter's request span with its tags, an embedding without documents."""
    _written(_record())
    _written(_record(kind="workflow", input=None, output=None, metadata=None, metrics=None,
                     model_name=None, model_provider=None, parent_id=None, session_id=None))
    _written(_record(kind="tool", input="2+2", output="4", metadata={}, metrics={}))
    _written(_record(kind="workflow", input="GET /chat", output=None,
                     tags=("http.method", "GET", "http.status_code", 200)))
    _written(_record(kind="task", input=None, output=None, tags={"team": "search"},
                     session_id=""))
    _written(_record(kind="embedding", input=None, output="[3 vectors]", model_name="",
                     model_provider=None))


def test_most_drawn_records_of_its_shapes_are_taken() -> None:
    """The drawn records above are mostly written by the C writer, not handed back: the
    comparison tests it, not the Python path against itself."""
    taken = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    @given(taken_records)
    def draw(record: tuple[Any, ...]) -> None:
        taken.append(_python_and_native(record)[1] is not None)
    draw()
    assert sum(taken) > len(taken) / 2, f"{sum(taken)} of {len(taken)} taken"


@pytest.mark.parametrize("changes", [
    {"error": ("ValueError", "bad", "trace")},
    {"sample_rate": 0.5},
    {"tool_definitions": [{"name": "f"}]},
    {"extras": {"prompt": {"template": "t"}}},
    {"pagent": ("agent", 3)},
    {"kind": "retrieval", "output": "text", "model_name": None},
    {"metrics": {"cost.total": 1.0}},
    {"metadata": {"nested": {"a": 1}}},
    {"input": [{"role": "user", "content": "a list, not annotate()'s tuple"}]},
    {"name": type("Name", (str,), {})("a str subclass")},
    {"metadata": type("Meta", (dict,), {})(a=1)},
    {"model_provider": "ÖpenAI"},
    {"tags": ("odd",)},
    {"span_id": 1 << 64},
    {"start_ns": -(1 << 63) - 1},
    {"trace_id": 1 << 128},
    {"trace_id": -1},
    {"session_id": 5},
])
def test_what_it_does_not_cover_is_handed_back(changes: dict[str, Any]) -> None:
    expected, written = _python_and_native(_record(**changes))
    assert written is None


@pytest.mark.parametrize("text", [
    "", '"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "😀", "é", "\ud800",
    *("a" * position + special for position in range(18) for special in ('"', "\x01", "\\")),
    "\b\t\n\f\r" + "".join(map(chr, range(32))) + "tail",
    *("\n" + "a" * position + '"' + "b" * 9 + "\\" for position in range(17)),  # scan resumed
    "x" * 100_000 + "\n",  # far past the stack buffer
])
def test_strings_are_escaped_as_orjson_escapes_them(text: str) -> None:
    """Each place a character to escape can take in the 8-byte words the writer scans; a lone
    surrogate, which orjson refuses, is handed back."""
    record = _record(name=text, ml_app=text, session_id=text or None, metadata={text: text},
                     input=({"role": "user", "content": text},), tags={text: text})
    expected, written = _python_and_native(record)
    if "\ud800" in text:
        assert written is None
    else:
        assert written == expected


@pytest.mark.parametrize("number", [
    0, -1, (1 << 63) - 1, -(1 << 63), 1 << 63, (1 << 64) - 1, 1 << 64, -(1 << 63) - 1,
    0.0, -0.0, 0.2, 1.0, 1e-05, 1.5e-07, 1e16, 1e22, 5e-324, 1.7976931348623157e308,
    math.nan, math.inf, -math.inf, True, False, None,
])
def test_numbers_are_written_as_orjson_writes_them(number: Any) -> None:
    record = _record(metadata={"n": number}, metrics={"n": number},
                     input=({"role": "user", "content": "x", "n": [number]},))
    expected, written = _python_and_native(record)
    if isinstance(number, int) and not -(1 << 63) <= number < (1 << 64):
        assert written is None  # orjson refuses it; the Python path decides
    else:
        assert written == expected
    if type(number) is int and 0 <= number < (1 << 63):
        times = _record(start_ns=number, duration_ns=number, span_id=number or 1)
        assert _written(times)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(), min_size=1, max_size=300))
def test_floats_written_again_are_written_as_the_first_time(numbers: list[float]) -> None:
    """The writer keeps the text of the floats it wrote last (64 slots, by their bits): a float
    met again, or one that took another's slot, is still written as orjson writes it."""
    for number in numbers + numbers[::-1]:
        _written(_record(metadata={"n": number}))
    for number in (0.0, -0.0, 0.0, math.nan, -math.nan, math.inf, -math.inf):
        _written(_record(metadata={"n": number}))


def test_each_trace_id_is_written_as_its_own_after_another() -> None:
    """The writer keeps the text of the last trace id it wrote: the next trace's is its own."""
    first, second = (1 << 127) + 5, (1 << 96) + 3
    for trace_id in (first, second, first, int(str(first)), second):
        written = _written(_record(trace_id=trace_id, apm_trace_id=trace_id))
        assert f'"trace_id":"{trace_id:032x}"'.encode() in written


def test_ids_at_the_edges_are_written_as_the_python_path_writes_them() -> None:
    for trace_id in (0, 1, (1 << 64) - 1, 1 << 64, (1 << 128) - 1):
        _written(_record(trace_id=trace_id, apm_trace_id=trace_id))
    _written(_record(trace_id=5, apm_trace_id=(1 << 128) - 1))
    for span_id in (1, (1 << 64) - 1):
        _written(_record(span_id=span_id, parent_id=span_id))


def test_nesting_is_written_up_to_its_bound_then_handed_back() -> None:
    def nested(depth: int) -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = [value]
        return value
    _written(_record(input=({"role": "user", "content": "x", "deep": nested(50)},)))
    expected, written = _python_and_native(
        _record(input=({"role": "user", "content": "x", "deep": nested(300)},)))
    assert written is None and expected is TypeError  # orjson's recursion limit


def test_a_large_event_leaves_the_stack_buffer_for_the_heap() -> None:
    messages = tuple({"role": "user", "content": f"message {index} " * 50}
                     for index in range(200))
    written = _written(_record(input=messages, output=messages))
    assert len(written) > 200_000


def test_bad_arguments_raise_type_error() -> None:
    with pytest.raises(TypeError):
        native.event(_record(), "not bytes")
    with pytest.raises(TypeError):
        native.event(_record())
    assert native.event(("too", "short"), b"") is None
    assert native.event("not a tuple", b"") is None
