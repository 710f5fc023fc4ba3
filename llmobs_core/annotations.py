"""Validation and normalisation of annotate() data, per span kind. Runs on the caller's thread,
so it only reshapes: anything that needs encoding is encoded later, on the writer thread."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._log import warn_limited

if TYPE_CHECKING:
    from .span import LLMObsSpan

_MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_results")
_DOCUMENT_KEYS = ("text", "name", "id", "score")


class Rejected(Exception):
    """An annotation value that cannot be used; the message says why."""


def _messages(data: Any) -> tuple[dict[str, Any], ...] | list[dict[str, Any]]:
    """A string, a message dict, or a list of either. Only plain {"role": str, "content": str}
    messages come back as a tuple, kept as they are (no copy: this runs on every call): the
    event builder takes a tuple as ready to send, and the cyclic GC untracks a tuple of plain
    messages at its first pass, so spans waiting for the writer cost it less. Anything else
    comes back as a list of new dicts, which the event builder finishes."""
    if type(data) is list or isinstance(data, tuple):
        for item in data:
            if not (type(item) is dict and len(item) == 2 and type(item.get("content")) is str
                    and type(item.get("role")) is str):
                return [{"content": item} if isinstance(item, str) else _message(item)
                        for item in data]
        return tuple(data)
    if isinstance(data, str):
        return [{"content": data}]
    if isinstance(data, Mapping):
        return [_message(data)]
    raise Rejected(f"messages must be a string, a dict or a list of them, "
                   f"not {type(data).__name__}")


def _message(item: Any) -> dict[str, Any]:
    if type(item) is dict and len(item) == 2 and type(item.get("role")) is str:
        content = item.get("content")
        if content is not None:  # the common {"role", "content"} message, checked cheaply
            return {"role": item["role"], "content": content}
    if not isinstance(item, Mapping):
        raise Rejected(f"a message must be a dict or a string, not {type(item).__name__}")
    message = {key: item[key] for key in _MESSAGE_KEYS if item.get(key) is not None}
    if "content" not in message and "tool_calls" not in message and "tool_results" not in message:
        raise Rejected("a message needs content, tool_calls or tool_results")
    role = message.get("role")
    if role is not None and not isinstance(role, str):
        raise Rejected("a message's role must be a string")
    for key in ("tool_calls", "tool_results"):
        calls = message.get(key)
        if calls is not None and not (
            isinstance(calls, (list, tuple)) and all(isinstance(c, Mapping) for c in calls)
        ):
            raise Rejected(f"a message's {key} must be a list of dicts")
    return message


def _documents(data: Any) -> list[dict[str, Any]]:
    """A string, a document dict (with text), or a list of either."""
    if isinstance(data, str):
        return [{"text": data}]
    if isinstance(data, Mapping):
        return [_document(data)]
    if isinstance(data, (list, tuple)):
        return [{"text": item} if isinstance(item, str) else _document(item) for item in data]
    raise Rejected(f"documents must be a string, a dict or a list of them, "
                   f"not {type(data).__name__}")


def _document(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise Rejected(f"a document must be a dict or a string, not {type(item).__name__}")
    document = {key: item[key] for key in _DOCUMENT_KEYS if item.get(key) is not None}
    score = document.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, numbers.Real)):
        raise Rejected("a document's score must be a number")
    if not document:
        raise Rejected("a document needs at least one of text, name, id, score")
    return document


def _value(data: Any) -> Any:
    return data


# kind -> (input shaper, output shaper)
_SHAPERS = {
    "llm": (_messages, _messages),
    "embedding": (_documents, _value),
    "retrieval": (_value, _documents),
}
_VALUE_SHAPERS = (_value, _value)


def shape_io(kind: str, direction: int, data: Any) -> Any:
    """Shape input (direction 0) or output (1) for `kind`; raises Rejected."""
    return _SHAPERS.get(kind, _VALUE_SHAPERS)[direction](data)


def shape_io_leniently(kind: str, direction: int, data: Any) -> Any:
    """For values captured automatically by decorators: whatever does not fit the kind's shape
    becomes a single message or document holding the value."""
    try:
        return shape_io(kind, direction, data)
    except Rejected:
        shaper = _SHAPERS.get(kind, _VALUE_SHAPERS)[direction]
        if shaper is _messages:
            return [{"content": data}]
        if shaper is _documents:
            return [{"text": data}]
        return data


def metrics_of(data: Any) -> dict[str, float]:
    if type(data) is dict:
        for key, value in data.items():  # the common case: plain names to ints or finite floats
            value_type = type(value)
            if type(key) is not str or "." in key or not (
                    value_type is int or (value_type is float and math.isfinite(value))):
                break
        else:
            return data.copy()
    elif not isinstance(data, Mapping):
        raise Rejected(f"metrics must be a dict of names to numbers, not {type(data).__name__}")
    metrics = {}
    for key, value in data.items():
        value_type = type(value)
        if value_type is not int and not (value_type is float and math.isfinite(value)) and (
            value_type is bool or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            warn_limited("annotate.metric",
                         "llmobs: metric %r dropped: its value is not a finite number", key)
            continue
        if type(key) is not str:
            key = str(key)
        metrics[key.replace(".", "_") if "." in key else key] = value
    return metrics


def tags_of(data: Any) -> dict[str, str]:
    if not isinstance(data, Mapping):
        raise Rejected(f"tags must be a dict of names to values, not {type(data).__name__}")
    return {str(key): str(value) for key, value in data.items()}


def metadata_of(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise Rejected(f"metadata must be a dict, not {type(data).__name__}")
    return dict(data)


def apply_annotations(span: LLMObsSpan, input_data: Any, output_data: Any, metadata: Any,
                      metrics: Any, tags: Any) -> None:
    """Each field is applied on its own: a bad one is dropped with a warning, the rest kept."""
    if input_data is not None or output_data is not None:
        _apply_io(span, input_data, output_data)
    if metadata is not None:
        try:
            values = metadata.copy() if type(metadata) is dict else metadata_of(metadata)
            if span.metadata is None:
                span.metadata = values
            else:
                span.metadata.update(values)
        except Exception as exc:
            _dropped(span, "metadata", exc)
    if metrics is not None:
        try:
            values = metrics_of(metrics)
            if span.metrics is None:
                span.metrics = values
            else:
                span.metrics.update(values)
        except Exception as exc:
            _dropped(span, "metrics", exc)
    if tags is not None:
        try:
            _apply_tags(span, tags)
        except Exception as exc:
            _dropped(span, "tags", exc)


def _apply_io(span: LLMObsSpan, input_data: Any, output_data: Any) -> None:
    shapers = _SHAPERS.get(span.kind, _VALUE_SHAPERS)
    if input_data is not None:
        try:
            span.input = shapers[0](input_data)
        except Exception as exc:  # Rejected, or a hostile object's own fault
            _dropped(span, "input_data", exc)
    if output_data is not None:
        try:
            span.output = shapers[1](output_data)
        except Exception as exc:
            _dropped(span, "output_data", exc)


def _dropped(span: LLMObsSpan, field: str, exc: Exception) -> None:
    warn_limited(f"annotate.{field}", "llmobs: annotate(%s=...) dropped on span %r: %s",
                 field, span.name, exc)


def _merge(span: LLMObsSpan, attribute: str, values: dict[str, Any]) -> None:
    current = getattr(span, attribute)
    if current is None:
        setattr(span, attribute, values)
    else:
        current.update(values)


def _apply_tags(span: LLMObsSpan, data: Any) -> None:
    tags = tags_of(data)
    session_id = tags.pop("session_id", None)
    if session_id:
        span.session_id = session_id
    _merge(span, "tags", tags)
