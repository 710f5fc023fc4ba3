"""OTLP/HTTP protobuf request bodies, written straight from span events: the
ExportTraceServiceRequest of opentelemetry-proto (opentelemetry/proto/trace/v1/trace.proto and
common/v1/common.proto), field by field in protobuf's wire format. Building the official
message classes, or OpenTelemetry SDK span objects first, cost several times more than the
bytes themselves; the tests decode every body with the official classes.

A field is its tag (field number << 3 | wire type), then a varint, 8 fixed bytes, or a
varint length and that many bytes (strings, bytes, nested messages)."""

from __future__ import annotations

from struct import Struct
from typing import Any, Final

from .._native import native

_FIXED64: Final = Struct("<Q").pack
_DOUBLE: Final = Struct("<d").pack
_TIMES: Final = Struct("<BQBQ").pack
_IDS: Final = Struct(">2sQQ2sQ").pack
_LOW64: Final = (1 << 64) - 1
# An int beyond int64 is sent as its decimal text, as the metadata's JSON writes it: wrapped to
# 64 bits, 2**63 tokens read as a negative count.
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
# A varint of two bytes, written as one little-endian number.
_TWO_BYTES: Final = Struct("<H").pack
_SMALL: Final = [bytes((n,)) for n in range(128)]  # varints of one byte
_HEADS: Final[dict[str, bytes]] = {}  # attribute keys, encoded
_MAX_HEADS: Final = 8192
# The bytes around a KeyValue of under 128 bytes, made once: its tag and length (by tag, then
# length); a string AnyValue's length, tag and string length (by string length); a small int's
# AnyValue with its length (by value).
_KEY_VALUE_HEADS: Final[dict[bytes, list[bytes]]] = {}
_STRING_VALUE_HEADS: Final = [bytes((n + 2, 0x0A, n)) for n in range(126)]
_SMALL_INT_VALUES: Final = [b"\x02\x18" + bytes((n,)) for n in range(128)]

# Span (trace.proto): trace_id 1, span_id 2, parent_span_id 4, name 5, kind 6, start 7, end 8,
# attributes 9, events 11, status 15. Status: message 2, code 3. Event: time 1, name 2,
# attributes 3. KeyValue: key 1, value 2. AnyValue: string 1, bool 2, int 3, double 4, array 5.
TRACE_ID: Final = b"\x0a\x10"
SPAN_ID: Final = b"\x12\x08"
PARENT_ID: Final = b"\x22\x08"
NAME: Final = b"\x2a"
ATTRIBUTE: Final = b"\x4a"
EVENT: Final = b"\x5a"
STATUS: Final = b"\x7a"
SPAN_KINDS: Final = {"internal": b"\x30\x01", "client": b"\x30\x03"}
STATUS_OK: Final = b"\x7a\x02\x18\x01"  # code: STATUS_CODE_OK


_NATIVE_SPAN: Final = native("llmobs_core.export._otlp_native", "span")


def varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    if n < 16384:  # most lengths: one C call instead of the loop below
        return _TWO_BYTES(n & 0x7F | 0x80 | (n >> 7) << 8)
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
    if kind is int and _INT64_MIN <= value <= _INT64_MAX:
        return b"\x18" + varint(value & 0xFFFF_FFFF_FFFF_FFFF)  # int64, two's complement
    if kind is float:
        return b"\x21" + _DOUBLE(value)
    if kind is list or kind is tuple:
        return field(b"\x2a", b"".join([field(b"\x0a", any_value(item)) for item in value]))
    return field(b"\x0a", str(value).encode("utf-8", "surrogatepass"))


def attributes(tag: bytes, values: dict[str, Any]) -> bytes:
    """Repeated KeyValue fields numbered `tag`."""
    out: list[bytes] = []
    add_attributes(out, tag, values)
    return b"".join(out)


def add_attributes(out: list[bytes], tag: bytes, values: dict[str, Any]) -> None:
    """Append the parts of repeated KeyValue fields numbered `tag` to `out`. This is most of
    the sink's work, so the common values (a string that makes a KeyValue of under 128
    bytes, a small int) are written inline, without a call."""
    extend, heads = out.extend, _HEADS
    kv_heads = _KEY_VALUE_HEADS.get(tag) or _key_value_heads(tag)
    for key, value in values.items():
        try:
            head = heads[key]  # the key's field, then the value's tag
        except KeyError:
            head = _head(key)
        # type(value) is tested each time, not kept: mypyc then knows a str (an int below) and
        # encodes and compares it in C
        if type(value) is str:
            try:
                data = value.encode()
            except UnicodeEncodeError:  # a lone surrogate: sent as it is, as before
                data = value.encode("utf-8", "surrogatepass")
            n = len(data)
            # A KeyValue: head, the AnyValue's length, then the AnyValue: 0x0a, n, the UTF-8.
            size = len(head) + n + 3
            if size < 128:
                extend((kv_heads[size], head, _STRING_VALUE_HEADS[n], data))
                continue
            # The same parts with longer lengths, without copying the text into a KeyValue.
            n_varint = varint(n)
            value_size = 1 + len(n_varint) + n
            value_size_varint = varint(value_size)
            extend((tag, varint(len(head) + len(value_size_varint) + value_size), head,
                    value_size_varint, b"\x0a", n_varint, data))
            continue
        elif type(value) is int and 0 <= value < 128 and len(head) < 124:
            extend((kv_heads[len(head) + 3], head, _SMALL_INT_VALUES[value]))
            continue
        else:
            encoded = any_value(value)
        out.append(_key_value(tag, head, encoded))


def _key_value_heads(tag: bytes) -> list[bytes]:
    heads = _KEY_VALUE_HEADS[tag] = [tag + bytes((size,)) for size in range(128)]
    return heads


def _head(key: str) -> bytes:
    if len(_HEADS) >= _MAX_HEADS:
        _HEADS.clear()
    head = _HEADS[key] = field(b"\x0a", key.encode("utf-8", "surrogatepass")) + b"\x12"
    return head


def _key_value(tag: bytes, head: bytes, encoded_value: bytes) -> bytes:
    body = head + varint(len(encoded_value)) + encoded_value
    return tag + varint(len(body)) + body


def span(trace_id: int, span_id: int, parent_id: int | None, name: str, kind: str,
         start_ns: int, end_ns: int, fixed: bytes, span_attributes: dict[str, Any],
         error: tuple[str, dict[str, Any]] | None = None) -> bytes:
    """An encoded Span message: `fixed` is attributes(ATTRIBUTE, ...) of attributes encoded
    beforehand, `span_attributes` the others; `error` is the status message and the
    exception event's attributes. Written in C where the accelerator is built and covers
    the span (_otlp_native.c), else by python_span(), the reference."""
    if _NATIVE_SPAN is not None:
        encoded = _NATIVE_SPAN(trace_id, span_id, parent_id, name, kind, start_ns, end_ns,
                               fixed, span_attributes, error)
        if encoded is not None:
            return encoded
    return python_span(trace_id, span_id, parent_id, name, kind, start_ns, end_ns, fixed,
                       span_attributes, error)


def python_span(trace_id: int, span_id: int, parent_id: int | None, name: str, kind: str,
                start_ns: int, end_ns: int, fixed: bytes, span_attributes: dict[str, Any],
                error: tuple[str, dict[str, Any]] | None = None) -> bytes:
    """span(), in Python."""
    # trace_id (16 bytes, in two halves) and span_id, each after its tag, in one pack
    parts = [_IDS(TRACE_ID, trace_id >> 64, trace_id & _LOW64, SPAN_ID, span_id)]
    if parent_id:
        parts += (PARENT_ID, parent_id.to_bytes(8, "big"))
    name_data = name.encode("utf-8", "surrogatepass")
    n = len(name_data)
    parts += (NAME, _SMALL[n] if n < 128 else varint(n), name_data, SPAN_KINDS[kind],
              _TIMES(0x39, start_ns, 0x41, end_ns),  # start, end: fields 7 and 8, fixed64
              fixed)
    add_attributes(parts, ATTRIBUTE, span_attributes)
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
    ScopeSpans (`scope`, an encoded InstrumentationScope) with its encoded spans. Each
    message's length is added up from its parts, which are joined once at the end: nesting
    by concatenation copied the whole body at each level."""
    out: list[bytes] = []
    scope_field = field(b"\x0a", scope)
    for resource, spans in resources.items():
        parts = [scope_field]
        size = len(scope_field)  # of the ScopeSpans message
        for encoded in spans:
            n = len(encoded)  # mostly under 16,384 bytes: a varint of two bytes, made inline
            head = (bytes((0x12, n & 0x7F | 0x80, n >> 7)) if 128 <= n < 16384
                    else b"\x12" + varint(n))
            parts.append(head)
            parts.append(encoded)
            size += len(head) + n
        resource_field = field(b"\x0a", resource)
        scope_head = b"\x12" + varint(size)
        resource_spans = len(resource_field) + len(scope_head) + size
        out += (b"\x0a", varint(resource_spans), resource_field, scope_head)
        out += parts
    return b"".join(out)


def resource(values: dict[str, Any]) -> bytes:
    return attributes(b"\x0a", values)


def scope(name: str, version: str) -> bytes:
    return field(b"\x0a", name.encode()) + field(b"\x12", version.encode())
