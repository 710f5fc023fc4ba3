"""OTLP/HTTP protobuf request bodies, written straight from span events: the
ExportTraceServiceRequest of opentelemetry-proto (opentelemetry/proto/trace/v1/trace.proto and
common/v1/common.proto), field by field in protobuf's wire format. Building the official
message classes, or OpenTelemetry SDK span objects first, cost several times more than the
bytes themselves; the tests decode every body with the official classes.

A field is its tag (field number << 3 | wire type), then a varint, 8 fixed bytes, or a
varint length and that many bytes (strings, bytes, nested messages)."""

from __future__ import annotations

from struct import Struct
from typing import Any

_FIXED64 = Struct("<Q").pack
_DOUBLE = Struct("<d").pack
_SMALL = [bytes((n,)) for n in range(128)]
_PAIRS: dict[tuple[bytes, str, Any], bytes] = {}  # encoded KeyValue fields that repeat
_SHORT = 64
_MAX_PAIRS = 8192

# Span (trace.proto): trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8,
# attributes 9, events 11, status 15. Status: message 2, code 3. Event: time 1, name 2,
# attributes 3. KeyValue: key 1, value 2. AnyValue: string 1, bool 2, int 3, double 4, array 5.
TRACE_ID, SPAN_ID, PARENT_ID, NAME, KIND = b"\x0a\x10", b"\x12\x08", b"\x22\x08", b"\x2a", b"\x30"
START, END, ATTRIBUTE, EVENT, STATUS = b"\x39", b"\x41", b"\x4a", b"\x5a", b"\x7a"
SPAN_KINDS = {"internal": b"\x30\x01", "client": b"\x30\x03"}
STATUS_OK = b"\x7a\x02\x18\x01"  # code: STATUS_CODE_OK


def varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: a string's UTF-8, bytes, or an encoded message."""
    return tag + varint(len(data)) + data


def any_value(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        return field(b"\x0a", value.encode("utf-8", "surrogatepass"))
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        return b"\x18" + varint(value & 0xFFFF_FFFF_FFFF_FFFF)  # int64, two's complement
    if kind is float:
        return b"\x21" + _DOUBLE(value)
    if kind is list or kind is tuple:
        return field(b"\x2a", b"".join([field(b"\x0a", any_value(item)) for item in value]))
    return field(b"\x0a", str(value).encode("utf-8", "surrogatepass"))


def attributes(tag: bytes, values: dict[str, Any]) -> bytes:
    """Repeated KeyValue fields numbered `tag`. Most of a span's attributes repeat from span
    to span (kinds, model, provider, roles, ml_app): those, short strings, are encoded once
    and kept, which halves the sink's encoding time."""
    out = []
    for key, value in values.items():
        kind = type(value)
        if (kind is str and len(value) <= _SHORT) or (kind is list and all(
                type(item) is str for item in value)):  # a span's tags: the same on many
            pair = (tag, key, value if kind is str else tuple(value))
            encoded = _PAIRS.get(pair)
            if encoded is None:
                if len(_PAIRS) >= _MAX_PAIRS:
                    _PAIRS.clear()
                encoded = _PAIRS[pair] = _key_value(tag, key, value)
            out.append(encoded)
        else:
            out.append(_key_value(tag, key, value))
    return b"".join(out)


def _key_value(tag: bytes, key: str, value: Any) -> bytes:
    return field(tag, field(b"\x0a", key.encode("utf-8", "surrogatepass"))
                 + field(b"\x12", any_value(value)))


def span(trace_id: int, span_id: int, parent_id: int | None, name: str, kind: str,
         start_ns: int, end_ns: int, span_attributes: dict[str, Any],
         error: tuple[str, dict[str, Any]] | None = None) -> bytes:
    """An encoded Span message; `error` is the status message and the exception event's
    attributes."""
    parts = [TRACE_ID, trace_id.to_bytes(16, "big"), SPAN_ID, span_id.to_bytes(8, "big")]
    if parent_id:
        parts += (PARENT_ID, parent_id.to_bytes(8, "big"))
    parts += (field(NAME, name.encode("utf-8", "surrogatepass")), SPAN_KINDS[kind],
              START, _FIXED64(start_ns), END, _FIXED64(end_ns),
              attributes(ATTRIBUTE, span_attributes))
    if error is None:
        parts.append(STATUS_OK)
    else:
        message, event_attributes = error
        parts.append(field(EVENT, b"\x09" + _FIXED64(end_ns) + field(b"\x12", b"exception")
                           + attributes(b"\x1a", event_attributes)))
        parts.append(field(STATUS, field(b"\x12", message.encode("utf-8", "surrogatepass"))
                           + b"\x18\x02"))  # code: STATUS_CODE_ERROR
    return b"".join(parts)


def request(resources: dict[bytes, list[bytes]], scope: bytes) -> bytes:
    """ExportTraceServiceRequest: for each encoded Resource, one ResourceSpans holding one
    ScopeSpans (`scope`, an encoded InstrumentationScope) with its encoded spans."""
    out = []
    for resource, spans in resources.items():
        scope_spans = field(b"\x0a", scope) + b"".join([field(b"\x12", s) for s in spans])
        out.append(field(b"\x0a", field(b"\x0a", resource) + field(b"\x12", scope_spans)))
    return b"".join(out)


def resource(values: dict[str, Any]) -> bytes:
    return attributes(b"\x0a", values)


def scope(name: str, version: str) -> bytes:
    return field(b"\x0a", name.encode()) + field(b"\x12", version.encode())
