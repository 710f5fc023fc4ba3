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
_TRACE_ID, _APM_TRACE_ID, _START, _INPUT, _OUTPUT = 2, 5, 10, 13, 14  # in RECORD_FIELDS
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
    as hex text) and flags saying which of its input (1) and output (2) were tuples (JSON
    makes them lists, and the builder copies an llm span's tuple of messages as it is but reads
    a list message by message), or, where the record would not keep its meaning, its
    event built now. A record whose event cannot be built raises, as building it would."""
    items: list[Any] = []
    low, high = _INT64_MAX, _INT64_MIN
    hex_ids: dict[int, str] = {}  # the spans of a trace share its id
    for record in records:
        start = record[_START]
        if type(start) is int:
            if start < low:
                low = start
            if start > high:
                high = start
        if _keeps_its_meaning(record):
            item = list(record)
            trace_id = record[_TRACE_ID]
            hex_id = hex_ids.get(trace_id)
            if hex_id is None:
                hex_id = hex_ids[trace_id] = f"{trace_id:032x}"
            item[_TRACE_ID] = hex_id
            apm_trace_id = record[_APM_TRACE_ID]
            item[_APM_TRACE_ID] = hex_id if apm_trace_id == trace_id else f"{apm_trace_id:032x}"
            # tuple_flags(record), inlined: this runs for every span
            item.append((type(record[_INPUT]) is tuple) | (type(record[_OUTPUT]) is tuple) << 1)
            items.append(item)
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
    if orjson is not None and type(item) is list:
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
            flags = item.pop()
            item[_TRACE_ID] = int(item[_TRACE_ID], 16)
            item[_APM_TRACE_ID] = int(item[_APM_TRACE_ID], 16)
            if flags & 1:
                item[_INPUT] = tuple(item[_INPUT])
            if flags & 2:
                item[_OUTPUT] = tuple(item[_OUTPUT])
            events.append(build(item))
        except Exception as exc:
            failed(exc)
    return events


# -- which records keep their meaning through JSON -------------------------------------------

_JSON_SCALARS = frozenset((str, int, bool, type(None)))  # and finite floats, checked apart
_FLAT_VALUES = frozenset((str, int, float, bool, type(None)))
_STR = frozenset((str,))


def _keeps_its_meaning(record: Any) -> bool:
    """Whether the builder, given this record back from JSON, builds the same event (the
    JSON itself refuses what it cannot hold as it is, _encode_items): each field the builder
    reads by type has the type the tracer gives it, and each value the builder formats or
    turns into text is of exact JSON types. The common shapes are checked by C-level set
    operations; values the builder passes on as they are (name, metrics, the messages of an
    llm span as annotate() leaves them: a tuple) need no check."""
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
            and (type(sample_rate) is float and sample_rate - sample_rate == 0.0
                 or type(sample_rate) is int)
            and (tags is None or _plain_tags(tags))
            and (metadata is None or _plain_metadata(metadata))
            and (tool_definitions is None or _json_exact(tool_definitions, 0))
            and (input_value is None or type(input_value) is str and kind not in _DOCUMENT_INPUTS
                 or _input_keeps(kind, input_value, _DOCUMENT_INPUTS))
            and (output_value is None or type(output_value) is str
                 and kind not in _DOCUMENT_OUTPUTS
                 or _input_keeps(kind, output_value, _DOCUMENT_OUTPUTS)))


def _input_keeps(kind: str, value: Any, document_kinds: tuple[str, ...]) -> bool:
    if kind in _MESSAGE_KINDS:
        if type(value) is tuple:  # copied as it is: what JSON holds of it is what is stored
            return True
        return type(value) is list and _json_exact(value, 0) and all(
            type(message) is dict for message in value)
    if kind in document_kinds:
        return type(value) is list and _json_exact(value, 0) and all(
            type(document) is dict for document in value)
    return _json_exact(value, 0)


def _plain_tags(tags: Any) -> bool:
    """Tags the builder formats as "key:value": the same text before and after JSON."""
    if type(tags) is not dict:
        return False
    if _STR.issuperset(map(type, tags)) and _JSON_SCALARS.issuperset(map(type, tags.values())):
        return True
    for key, value in tags.items():
        kind = type(value)
        if type(key) is not str or not (kind in _JSON_SCALARS
                                        or (kind is float and value - value == 0.0)):
            return False
    return True


def _plain_metadata(metadata: Any) -> bool:
    """A flat dict of str, int, float (NaN too), bool and None the builder passes on as it
    is, as the event builder's _plain does; anything else must be of exact JSON types."""
    if (type(metadata) is dict and _STR.issuperset(map(type, metadata))
            and _FLAT_VALUES.issuperset(map(type, metadata.values()))):
        return True
    return _json_exact(metadata, 0)


def _json_exact(value: Any, depth: int) -> bool:
    """Whether `value` is made of str, int, finite float, bool, None, lists and dicts with
    string keys only, exactly those types. (x - x == 0.0 holds for finite floats only.)"""
    kind = type(value)
    if kind is dict:
        if depth >= _MAX_DEPTH:
            return False
        for key, item in value.items():
            kind = type(item)
            if type(key) is not str or not (
                    kind in _JSON_SCALARS
                    or (item - item == 0.0 if kind is float else _json_exact(item, depth + 1))):
                return False
        return True
    if kind is list:
        if depth >= _MAX_DEPTH:
            return False
        for item in value:
            kind = type(item)
            if not (kind in _JSON_SCALARS
                    or (item - item == 0.0 if kind is float else _json_exact(item, depth + 1))):
                return False
        return True
    return kind in _JSON_SCALARS or (kind is float and value - value == 0.0)
