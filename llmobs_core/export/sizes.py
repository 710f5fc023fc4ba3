"""What a queued span or evaluation costs in memory, estimated on the caller's thread without
encoding anything: the text of its input and output, plus a floor for the objects around it.
The writer's queue is bounded by the sum of these estimates; bench/writer_memory.py checks
what they buy in resident memory. This runs for every span: the common shapes (nothing, a
string, annotate()'s tuple of plain messages) are measured inline, without a call."""

from __future__ import annotations

from typing import Any, Final

# A span record beside its text: the tuple, its ids, and the small dicts and strings of a span.
SPAN_FLOOR: Final = 700
# An evaluation metric beside its text.
EVALUATION_FLOOR: Final = 900
# A message, a document, or a metadata entry: its dict and small values, beside its text.
# Metadata is counted by entries only: reading its values would cost every span a loop.
ENTRY: Final = 200
# Positions in RECORD_FIELDS. Final, as every constant read for each span here: the compiled
# build (setup.py) reads them from C statics, not the module's dict.
_ERROR: Final = 12
_INPUT: Final = 13
_OUTPUT: Final = 14
_METADATA: Final = 15
_RARE: Final = 18  # its first item: tool_definitions


def record_size(record: tuple[Any, ...]) -> int:
    """A finished span's record (RECORD_FIELDS): input, output, metadata entries, tool
    definitions, error."""
    try:
        size = SPAN_FLOOR
        value = record[_INPUT]
        if value is not None:
            size += len(value) if type(value) is str else value_size(value)
        value = record[_OUTPUT]
        if value is not None:
            size += len(value) if type(value) is str else value_size(value)
        if record[_METADATA]:
            size += ENTRY * len(record[_METADATA])
        tool_definitions = record[_RARE][0]
        if tool_definitions:
            size += 4 * ENTRY * len(tool_definitions)
        if record[_ERROR] is not None:
            size += len(record[_ERROR][1]) + len(record[_ERROR][2])
        return size
    except Exception:  # an estimate must never fail a span
        return SPAN_FLOOR


def value_size(value: Any) -> int:
    """Any other value: its strings, one level into lists of messages or documents."""
    if type(value) is tuple:  # mostly annotate()'s plain {"role", "content"} messages
        size = ENTRY * len(value)
        try:
            for message in value:
                size += len(message["content"])
        except Exception:  # a tuple an application passed as a task's input
            pass
        return size
    if type(value) is not list:
        return ENTRY
    size = ENTRY * len(value)
    for item in value:
        if type(item) is dict:
            for field in item.values():
                if type(field) is str:
                    size += len(field)
        elif type(item) is str:
            size += len(item)
    return size


def evaluation_size(metric: dict[str, Any]) -> int:
    reasoning = metric.get("reasoning")
    size = EVALUATION_FLOOR + (len(reasoning) if type(reasoning) is str else 0)
    json_value = metric.get("json_value")
    return size + ENTRY * len(json_value) if type(json_value) is dict else size
