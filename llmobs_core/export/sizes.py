"""What a queued span or evaluation costs in memory, estimated on the caller's thread without
encoding anything: the text it holds, plus a floor for the objects around it. The writer's
queue is bounded by the sum of these estimates; bench/writer_memory.py checks what they
buy in resident memory."""

from __future__ import annotations

from typing import Any

# A span record beside its text: the tuple, its ids, and the small dicts and strings of a span.
SPAN_FLOOR = 700
# An evaluation metric beside its text.
EVALUATION_FLOOR = 900
# A message, a document, or a metadata entry: its dict and small values, beside its text.
ENTRY = 200
_INPUT, _OUTPUT, _METADATA, _ERROR = 13, 14, 15, 12  # in RECORD_FIELDS


def value_size(value: Any) -> int:
    """The strings in a value, one level into lists and dicts of dicts (where messages and
    documents keep their text), plus ENTRY for each entry."""
    kind = type(value)
    if kind is str:
        return len(value)
    if value is None:
        return 0
    if kind is tuple or kind is list:
        size = ENTRY * len(value)
        for item in value:
            kind = type(item)
            if kind is dict:
                for field in item.values():
                    if type(field) is str:
                        size += len(field)
            elif kind is str:
                size += len(item)
        return size
    if kind is dict:
        size = ENTRY * len(value)
        for field in value.values():
            if type(field) is str:
                size += len(field)
        return size
    return ENTRY


def record_size(record: tuple[Any, ...]) -> int:
    size = SPAN_FLOOR
    for index in (_INPUT, _OUTPUT, _METADATA):
        value = record[index]
        if value is not None:
            size += value_size(value)
    error = record[_ERROR]
    if error is not None:
        size += sum(len(part) for part in error if type(part) is str)
    return size


def evaluation_size(metric: dict[str, Any]) -> int:
    reasoning = metric.get("reasoning")
    return EVALUATION_FLOOR + (len(reasoning) if type(reasoning) is str else 0) + value_size(
        metric.get("json_value"))
