"""The inbox: what the writing process stores of a batch of finished spans, so that its cost
stays close to handing the spans over. The batch's records (span.RECORD_FIELDS) are kept as
they were recorded, in Python's marshal format, one blob a batch; the span events are built
from them, and stored as traces, when the store is next read (store/settle.py).

marshal is C code of the standard library that writes exactly str (lone surrogates too), int
of any size, float (NaN too), bool, None, bytes, tuples, lists, dicts and sets, and refuses any
other object, subclasses of those included. So a record it takes comes back as values of the
very types it held, and the builder makes of it the event it would have made at once (but
that a set, which JSON does not have and the event holds as its repr, may list its members
in another order); changing the application's objects afterwards changes nothing. A
record holding anything else (an object of the application's), or whose ids, ml_app,
session or error are not of the tracer's types, has its event built at once, as the direct
path does, and that event is kept in its place, as JSON. Version 4 of the format
is written whatever the Python: every Python since 3.4 reads it.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Final

from ..span import RARE_FIELDS, RECORD_FIELDS
from .codec import Event, decode, encode
from .traces import span_facts

MARSHAL_VERSION: Final = 4
_start_of: Final = itemgetter(10)  # RECORD_FIELDS' start_ns
# Where a record's rare fields begin (span.RECORD_FIELDS), and its length in rows written
# before they had a tuple of their own: those fields flat at the end.
_RARE_AT: Final = len(RECORD_FIELDS) - 1
_RECORD_BEFORE_RARE: Final = _RARE_AT + len(RARE_FIELDS)
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


class Packed:
    """A batch ready for the inbox: its bytes and what retention and settling need."""

    __slots__ = ("data", "span_count", "min_start_ns", "max_start_ns")

    def __init__(self, data: bytes, span_count: int, min_start_ns: int,
                 max_start_ns: int) -> None:
        self.data, self.span_count = data, span_count
        self.min_start_ns, self.max_start_ns = min_start_ns, max_start_ns


def pack(records: list[Any], build: Callable[[Any], Event], now_ns: int) -> Packed:
    """The batch's records in one marshal blob; a record marshal refuses is replaced by its
    event, built now and encoded as the store encodes events. A record whose event cannot be
    built, or could not be stored, raises as building or storing it would."""
    data = None
    if all(map(_builder_reads, records)):
        try:
            data = marshal.dumps(records, MARSHAL_VERSION)
        except ValueError:  # an object marshal does not write, or a value nested too deep
            pass
    if data is None:
        data = marshal.dumps([_item(record, build, now_ns) for record in records],
                             MARSHAL_VERSION)
    try:
        low, high = min(map(_start_of, records)), max(map(_start_of, records))
    except TypeError:  # a start that is not a number
        low = high = now_ns
    if not (type(low) is int and type(high) is int and _INT64_MIN <= low <= high <= _INT64_MAX):
        low = high = now_ns
    return Packed(data, len(records), low, high)


def _item(record: Any, build: Callable[[Any], Event], now_ns: int) -> Any:
    """The record, or its event built now and encoded as the store encodes events."""
    if _builder_reads(record):
        try:
            marshal.dumps(record, MARSHAL_VERSION)
            return record
        except ValueError:
            pass
    event = build(record)
    check_storable(event, now_ns)
    return encode(event)


def _builder_reads(record: Any) -> bool:
    """Whether the fields the builder joins into text or formats have the types the tracer
    gives them (a span changed by hand may not): a record that fails to build then fails at
    once, and the writer counts it."""
    session_id, model_provider, error = record[7], record[9], record[12]
    return (type(record[6]) is str and type(record[2]) is int and type(record[5]) is int
            and (session_id is None or type(session_id) is str)
            and (model_provider is None or type(model_provider) is str)
            and (error is None or type(error) is tuple and type(error[0]) is str))


def check_storable(event: Event, now_ns: int) -> None:
    """Raise as the store would on this event (group_by_trace reading it, SQLite taking its
    tags, which must be text UTF-8 can encode)."""
    _, _, tags, _, facts = span_facts(event, now_ns)
    for tag in (*tags, *facts):
        if type(tag) is str and not tag.isascii():
            tag.encode()


def events_of(data: bytes, build: Callable[[Any], Event],
              failed: Callable[[Exception], None]) -> list[Event]:
    """The span events of an inbox row: its records built, its events as they are. A record
    that cannot be built is left out and passed to `failed`. Raises when the row cannot be
    read at all (written by a newer Python's marshal, or damaged)."""
    events = []
    for item in marshal.loads(data):
        if type(item) is bytes:
            events.append(decode(item))
            continue
        try:
            if len(item) == _RECORD_BEFORE_RARE:  # a row written before RARE_FIELDS
                item = (*item[:_RARE_AT], item[_RARE_AT:])
            events.append(build(item))
        except Exception as exc:
            failed(exc)
    return events
