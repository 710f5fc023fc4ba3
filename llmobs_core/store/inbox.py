"""The inbox: what the writing process stores of a batch of finished spans, so that its cost
stays close to handing the spans over. Each span's record (span.RECORD_FIELDS) is kept as
it was recorded, as JSON, and the whole batch becomes one row; the span events are built from
the records, and stored as traces, when the store is next read (store/settle.py).

A record is kept only when building its event after a JSON round trip gives the very event
that building it now would: every value the event builder reads by its type (ids, names it
joins into tags, tag values it formats, values it turns into text) must be of an exact JSON
type, and the JSON must hold it (no int past 64 bits, no lone surrogate). A record that is
not so (a value set on a span by hand, an object of the application's) has its event built
now, as the direct path would, and that event is kept instead. Either way nothing of the
application's objects is kept, so later changes to them change nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .codec import Event, decode, encode
from .traces import span_facts

try:
    import orjson

    _STRICT = (orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
               | orjson.OPT_PASSTHROUGH_SUBCLASS)
except ImportError:  # the store still works without orjson, only slower
    orjson = None  # type: ignore[assignment]

_MAX_DEPTH = 32  # deeper values are not checked: their record's event is built at once
_TRACE_ID, _APM_TRACE_ID, _START = 2, 5, 10  # positions in RECORD_FIELDS
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_MESSAGE_KINDS = ("llm",)
_DOCUMENT_INPUTS, _DOCUMENT_OUTPUTS = ("embedding",), ("retrieval",)


class Packed:
    """A batch ready for the inbox: its JSON and what retention and settling need."""

    __slots__ = ("data", "span_count", "min_start_ns", "max_start_ns")

    def __init__(self, data: bytes, span_count: int, min_start_ns: int,
                 max_start_ns: int) -> None:
        self.data, self.span_count = data, span_count
        self.min_start_ns, self.max_start_ns = min_start_ns, max_start_ns


def pack(records: Sequence[Any], build: Callable[[Any], Event], now_ns: int) -> Packed:
    """The batch's records as one JSON array: a record as an array of its fields (trace ids
    as hex text), or, where the record would not keep its meaning, its event built now. A
    record whose event cannot be built raises, as building it would."""
    items: list[Any] = []
    low, high = _INT64_MAX, _INT64_MIN
    for record in records:
        start = record[_START]
        if type(start) is int:
            if start < low:
                low = start
            if start > high:
                high = start
        if _keeps_its_meaning(record):
            items.append((*record[:2], f"{record[_TRACE_ID]:032x}", *record[3:5],
                          f"{record[_APM_TRACE_ID]:032x}", *record[6:]))
        else:
            items.append(_built_now(record, build, now_ns))
    if low > high or not _INT64_MIN <= low <= high <= _INT64_MAX:
        low = high = now_ns
    return Packed(_encode_items(items, records, build, now_ns), len(items), low, high)


def _built_now(record: Any, build: Callable[[Any], Event], now_ns: int) -> Event:
    """The record's event, having raised as storing it would (group_by_trace, then SQLite
    taking its tags): so the writer counts an event the store cannot take, as before."""
    event = build(record)
    check_storable(event, now_ns)
    return event


def check_storable(event: Event, now_ns: int) -> None:
    """Raise as the store would on this event: its tags must be text UTF-8 can encode."""
    _, _, tags, _, facts = span_facts(event, now_ns)
    for tag in (*tags, *facts):
        if type(tag) is str and not tag.isascii():
            tag.encode()


def _encode_items(items: list[Any], records: Sequence[Any], build: Callable[[Any], Event],
                  now_ns: int) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(items, option=_STRICT)
        except TypeError:  # orjson.JSONEncodeError: a value JSON cannot hold as it is
            pass
    return b"[" + b",".join([_encode_item(item, record, build, now_ns)
                             for item, record in zip(items, records)]) + b"]"


def _encode_item(item: Any, record: Any, build: Callable[[Any], Event], now_ns: int) -> bytes:
    """One item; a record JSON cannot hold as it is (an int past 64 bits, a lone surrogate)
    becomes its event, encoded as the store encodes events."""
    if orjson is not None and type(item) is tuple:
        try:
            return orjson.dumps(item, option=_STRICT)
        except TypeError:
            pass
    return encode(item if type(item) is dict else _built_now(record, build, now_ns))


def events_of(data: bytes | str, build: Callable[[Any], Event],
              failed: Callable[[Exception], None]) -> list[Event]:
    """The span events of an inbox row: its records built, its events as they are. A record
    that cannot be built is left out and passed to `failed`."""
    events = []
    for item in decode(data):
        if type(item) is dict:
            events.append(item)
            continue
        try:
            item[_TRACE_ID] = int(item[_TRACE_ID], 16)
            item[_APM_TRACE_ID] = int(item[_APM_TRACE_ID], 16)
            events.append(build(item))
        except Exception as exc:
            failed(exc)
    return events


# -- which records keep their meaning through JSON -------------------------------------------

def _keeps_its_meaning(record: Any) -> bool:
    """Whether the builder, given this record back from JSON, builds the same event: each
    field the builder reads by type has the type the tracer gives it, and each value it
    formats or turns into text is made of exact JSON types."""
    (kind, _name, trace_id, span_id, parent_id, apm_trace_id, ml_app, session_id, model_name,
     model_provider, _start, _duration, error, input_value, output_value, metadata, metrics,
     tags, tool_definitions, sample_rate, extras, pagent) = record
    return (type(kind) is str and type(trace_id) is int and type(span_id) is int
            and type(apm_trace_id) is int and type(ml_app) is str
            and (parent_id is None or type(parent_id) is int)
            and (session_id is None or type(session_id) is str)
            and (model_name is None or type(model_name) is str)
            and (model_provider is None or type(model_provider) is str)
            and (error is None or (type(error) is tuple and len(error) == 3
                                   and type(error[0]) is str))
            and (metrics is None or type(metrics) is dict)
            and (extras is None or type(extras) is dict)
            and (pagent is None or (type(pagent) is tuple and len(pagent) == 2
                                    and (pagent[1] is None or type(pagent[1]) is int)))
            and (type(sample_rate) is float or type(sample_rate) is int)
            and math.isfinite(sample_rate)
            and (tags is None or _plain_tags(tags))
            and (metadata is None or _json_exact(metadata, 0))
            and (tool_definitions is None or _json_exact(tool_definitions, 0))
            and _input_keeps(kind, input_value, _DOCUMENT_INPUTS)
            and _input_keeps(kind, output_value, _DOCUMENT_OUTPUTS))


def _input_keeps(kind: str, value: Any, document_kinds: tuple[str, ...]) -> bool:
    if value is None or type(value) is str and kind not in document_kinds:
        return True
    if kind in _MESSAGE_KINDS:
        if type(value) is tuple:  # annotate()'s plain messages, copied as they are
            return all(type(message) is dict and len(message) == 2
                       and type(message.get("role")) is str
                       and type(message.get("content")) is str for message in value)
        return type(value) is list and all(type(message) is dict and _json_exact(message, 1)
                                           for message in value)
    if kind in document_kinds:
        return type(value) is list and all(type(document) is dict and _json_exact(document, 1)
                                           for document in value)
    return _json_exact(value, 0)


def _plain_tags(tags: Any) -> bool:
    """Tags the builder formats as "key:value": the same text before and after JSON."""
    if type(tags) is not dict:
        return False
    for key, value in tags.items():
        kind = type(value)
        if type(key) is not str or not (kind is str or kind is int or kind is bool
                                        or value is None
                                        or (kind is float and math.isfinite(value))):
            return False
    return True


def _json_exact(value: Any, depth: int) -> bool:
    """Whether `value` is made of str, int, finite float, bool, None, lists and dicts with
    string keys only, exactly those types."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth >= _MAX_DEPTH:
        return False
    if kind is dict:
        return all(type(key) is str and _json_exact(item, depth + 1)
                   for key, item in value.items())
    if kind is list:
        return all(_json_exact(item, depth + 1) for item in value)
    return False
