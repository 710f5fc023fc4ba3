"""The OTLP sink's hand-written protobuf (_otlp_wire.py) against opentelemetry-proto's official
message classes: for spans carrying every kind of attribute value, every length class of
string (varints of one, two and three bytes) and an error, with part of the attributes
encoded beforehand, the request bodies are the same bytes that the official classes
serialise."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from llmobs_core.export import _otlp_wire as wire

_KINDS = {"internal": Span.SPAN_KIND_INTERNAL, "client": Span.SPAN_KIND_CLIENT}


def _any(value: Any) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any(item) for item in value]))
    return AnyValue(string_value=str(value))


def _key_values(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any(value)) for key, value in values.items()]


def _official_span(trace_id: int, span_id: int, parent_id: int | None, name: str, kind: str,
                   start: int, end: int, attributes: dict[str, Any],
                   error: tuple[str, dict[str, Any]] | None) -> Span:
    span = Span(trace_id=trace_id.to_bytes(16, "big"), span_id=span_id.to_bytes(8, "big"),
                parent_span_id=parent_id.to_bytes(8, "big") if parent_id else b"", name=name,
                kind=_KINDS[kind], start_time_unix_nano=start, end_time_unix_nano=end,
                attributes=_key_values(attributes))
    if error is None:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_OK))
    else:
        message, event_attributes = error
        event = span.events.add(time_unix_nano=end, name="exception")
        event.attributes.extend(_key_values(event_attributes))
        span.status.CopyFrom(Status(message=message, code=Status.STATUS_CODE_ERROR))
    return span


LONG = "x" * 200  # a length of two varint bytes
HUGE = "é" * 9_000  # 18,000 bytes: three varint bytes
ATTRIBUTES = [
    {},
    {"openinference.span.kind": "LLM", "llmobs.span.kind": "llm", "tag.tags": ["a:b", "c:d"]},
    {"input.value": LONG, "output.value": HUGE, "unicode": "naïve ✓ 漢字"},
    {"count": 0, "negative": -5, "big": 2**62, "ratio": 0.25, "nan-free": -1e300,
     "flag": True, "off": False, "empty": ""},
    {"mixed": ["x", 1, 2.5, True, ["nested"]], "tuple": ("a", "b"), "none in list": [],
     "object": 12j},
    {f"llm.input_messages.{i}.message.content": "word " * i for i in range(40)},
]


@pytest.mark.parametrize("attributes", ATTRIBUTES)
@pytest.mark.parametrize("error", [None, ("builtins.ValueError: bad", {
    "exception.type": "builtins.ValueError", "exception.message": "bad",
    "exception.stacktrace": "Traceback...\n" * 30})])
def test_request_bodies_are_what_the_official_classes_serialise(attributes, error) -> None:
    resource_values = {"service.name": "svc", "openinference.project.name": "app",
                       "telemetry.sdk.version": "1.2.3"}
    spans = [(0x6b15d8fa00000000645e8351bd58009b, 1176772690502250622, None, "answer",
              "internal", 1_796_593_914_941_489_477, 1_796_593_914_941_761_992),
             ((1 << 128) - 1, (1 << 64) - 1, 14265326300574196325, "chat ✓" * 30, "client",
              5, 6)]
    items = list(attributes.items())
    fixed = wire.attributes(wire.ATTRIBUTE, dict(items[:len(items) // 2]))
    body = wire.request({wire.resource(resource_values): [
        wire.span(*span, fixed, dict(items[len(items) // 2:]), error) for span in spans]},
        wire.scope("llmobs", "0.1.0"))
    official = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=_key_values(resource_values)),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name="llmobs", version="0.1.0"),
                                spans=[_official_span(*span, attributes, error)
                                       for span in spans])])])
    assert body == official.SerializeToString()
    assert ExportTraceServiceRequest.FromString(body) == official


def test_proto3_defaults_written_out_decode_the_same() -> None:
    """An empty key and a zero time are written where the official classes leave them out:
    the same message once decoded."""
    body = wire.request({wire.resource({}): [wire.span(1, 2, None, "", "internal", 0, 0,
                                                       b"", {"": ""})]}, wire.scope("", ""))
    decoded = ExportTraceServiceRequest.FromString(body)
    span = decoded.resource_spans[0].scope_spans[0].spans[0]
    assert (span.start_time_unix_nano, span.name, span.attributes[0].key) == (0, "", "")
    assert span.attributes[0].value.WhichOneof("value") == "string_value"


def test_several_resources_keep_their_own_spans() -> None:
    scope = wire.scope("llmobs", "0.1.0")
    one, two = wire.resource({"service.name": "one"}), wire.resource({"service.name": "two"})
    span = wire.span(1, 2, None, "s", "internal", 3, 4, b"", {"k": "v"})
    decoded = ExportTraceServiceRequest.FromString(wire.request({one: [span], two: [span, span]},
                                                                scope))
    assert [len(r.scope_spans[0].spans) for r in decoded.resource_spans] == [1, 2]
    assert [r.resource.attributes[0].value.string_value
            for r in decoded.resource_spans] == ["one", "two"]


def test_an_int_beyond_int64_is_sent_as_its_decimal_text() -> None:
    """int64 is what OTLP holds: 2**63 wrapped to 64 bits would read as a negative count."""
    values = {"max": 2**63 - 1, "min": -(2**63), "over": 2**63, "under": -(2**63) - 1,
              "huge": 10**40, "in a list": [2**64, 1]}
    body = wire.request({wire.resource({}): [wire.span(1, 2, None, "s", "internal", 3, 4, b"",
                                                       values)]}, wire.scope("", ""))
    span = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0]
    read = {kv.key: kv.value for kv in span.attributes}
    assert (read["max"].int_value, read["min"].int_value) == (2**63 - 1, -(2**63))
    assert read["over"].string_value == "9223372036854775808"
    assert read["under"].string_value == "-9223372036854775809"
    assert read["huge"].string_value == str(10**40)
    items = read["in a list"].array_value.values
    assert (items[0].string_value, items[1].int_value) == (str(2**64), 1)
