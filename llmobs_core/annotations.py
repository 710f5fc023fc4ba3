"""Validation and normalisation of annotate() data, per span kind. Runs on the caller's thread,
so it only reshapes: anything that needs encoding is encoded later, on the writer thread."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._faults import safe_str
from ._log import warn_limited
from ._values import as_name, clean_text, is_ascii, plain, safe_repr

if TYPE_CHECKING:
    from .span import LLMObsSpan

_MESSAGE_KEYS: Final = ("role", "content", "tool_calls", "tool_results")
_DOCUMENT_KEYS: Final = ("text", "name", "id", "score")


class Rejected(Exception):
    """An annotation value that cannot be used; the message says why."""


def _messages(data: Any) -> tuple[dict[str, Any], ...] | list[dict[str, Any]]:
    """A string, a message dict, or a list of either. Only plain {"role": str, "content": str}
    messages of ASCII text come back as a tuple, kept as they are (no copy: this runs on every
    call): the event builder takes a tuple as ready to send. (The cyclic GC keeps tracking it:
    CPython untracks a tuple only when it holds nothing but atoms and untracked tuples;
    docs/asgi.md, "A fifth look", measured what that costs.) Anything else comes back as a
    list of new dicts, which the event builder finishes."""
    kind = type(data)
    if kind is list or kind is tuple or issubclass(kind, (list, tuple)):
        items = data if kind is list or kind is tuple else list(data)
        for item in items:
            if not (type(item) is dict and len(item) == 2 and type(item.get("role")) is str
                    and type(content := item.get("content")) is str and is_ascii(content)):
                return [_message(item) for item in items]
        return tuple(items)
    if issubclass(kind, str):
        return [{"content": clean_text(data)}]
    if issubclass(kind, Mapping):
        return [_message(data)]
    raise Rejected(f"messages must be a string, a dict or a list of them, not {kind.__name__}")


def _message(item: Any) -> dict[str, Any]:
    kind = type(item)
    if issubclass(kind, str):
        return {"content": clean_text(item)}
    if kind is dict and len(item) == 2 and type(item.get("role")) is str:
        content = item.get("content")
        if content is not None:  # the common {"role", "content"} message, checked cheaply
            return {"role": clean_text(item["role"]), "content": plain(content)}
    if not issubclass(kind, Mapping):
        raise Rejected(f"a message must be a dict or a string, not {kind.__name__}")
    message = {key: value for key in _MESSAGE_KEYS if (value := item.get(key)) is not None}
    if "content" not in message and "tool_calls" not in message and "tool_results" not in message:
        raise Rejected("a message needs content, tool_calls or tool_results")
    role = message.get("role")
    if role is not None:
        if not issubclass(type(role), str):
            raise Rejected("a message's role must be a string")
        message["role"] = clean_text(role)
    if "content" in message:
        message["content"] = plain(message["content"])
    for key in ("tool_calls", "tool_results"):
        calls = message.get(key)
        if calls is not None:
            if not (issubclass(type(calls), (list, tuple))
                    and all(issubclass(type(c), Mapping) for c in calls)):
                raise Rejected(f"a message's {key} must be a list of dicts")
            message[key] = plain(calls)
    return message


def _documents(data: Any) -> list[dict[str, Any]]:
    """A string, a document dict (with text), or a list of either."""
    kind = type(data)
    if issubclass(kind, str):
        return [{"text": clean_text(data)}]
    if issubclass(kind, Mapping):
        return [_document(data)]
    if issubclass(kind, (list, tuple)):
        return [{"text": clean_text(item)} if issubclass(type(item), str) else _document(item)
                for item in data]
    raise Rejected(f"documents must be a string, a dict or a list of them, not {kind.__name__}")


def _document(item: Any) -> dict[str, Any]:
    if not issubclass(type(item), Mapping):
        raise Rejected(f"a document must be a dict or a string, not {type(item).__name__}")
    document = {key: plain(value) for key in _DOCUMENT_KEYS
                if (value := item.get(key)) is not None}
    if "score" in document:
        score = number(item.get("score"))
        if score is None:
            raise Rejected("a document's score must be a finite number")
        document["score"] = score
    if not document:
        raise Rejected("a document needs at least one of text, name, id, score")
    return document


# kind -> (input shaper, output shaper)
_SHAPERS: Final = {
    "llm": (_messages, _messages),
    "embedding": (_documents, plain),
    "retrieval": (plain, _documents),
}
_VALUE_SHAPERS: Final = (plain, plain)


def shape_io(kind: str, direction: int, data: Any) -> Any:
    """Shape input (direction 0) or output (1) for `kind`; raises Rejected, or whatever a
    hostile object raises when it is read."""
    return _SHAPERS.get(kind, _VALUE_SHAPERS)[direction](data)


def shape_io_leniently(kind: str, direction: int, data: Any) -> Any:
    """For values captured automatically by decorators: whatever does not fit the kind's shape
    becomes a single message or document holding a snapshot of the value. Never raises."""
    try:
        return shape_io(kind, direction, data)
    except Exception:
        shaper = _SHAPERS.get(kind, _VALUE_SHAPERS)[direction]
        if shaper is _messages:
            return [{"content": plain(data)}]
        if shaper is _documents:
            return [{"text": plain(data)}]
        return plain(data)


def number(value: Any) -> int | float | None:
    """A finite number as an int (within 64 bits) or a float; None for anything else."""
    kind = type(value)
    if kind is int:
        return value if -(2**63) <= value < 2**64 else _as_float(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if issubclass(kind, bool) or not issubclass(kind, numbers.Real):
        return None
    if issubclass(kind, int):
        return number(int.__index__(value))
    return _as_float(value)


def _as_float(value: Any) -> float | None:
    try:
        result = float(value)
    except Exception:  # too large, or a number type of the host's that cannot convert
        return None
    return result if math.isfinite(result) else None


def _items(data: Any, what: str) -> Any:
    kind = type(data)
    if issubclass(kind, dict):
        return dict.items(data)
    if issubclass(kind, Mapping):
        return data.items()
    raise Rejected(f"{what} must be a dict, not {kind.__name__}")


def metrics_of(data: Any) -> dict[str, float]:
    if type(data) is dict:
        flat: dict[Any, Any] = data  # typed: the compiled build iterates it as a dict
        for key, value in flat.items():  # the common case: plain names to ints or finite floats
            value_type = type(value)
            if type(key) is not str or "." in key or not is_ascii(key) or not (
                    (value_type is int and -(2**63) <= value < 2**64)
                    or (type(value) is float and value - value == 0.0)):  # finite: _values.plain()
                break
        else:
            return flat.copy()
    metrics = {}
    for key, value in _items(data, "metrics"):
        name = as_name(key) or safe_repr(key)
        result = number(value)
        if result is None:
            warn_limited("annotate.metric",
                         "llmobs: metric %s dropped: its value is not a finite number",
                         safe_repr(name))
            continue
        metrics[name.replace(".", "_") if "." in name else name] = result
    return metrics


def tags_of(data: Any) -> dict[str, str]:
    tags = {}
    for key, value in _items(data, "tags"):
        name, text = as_name(key), _tag_value(value)
        if name is None or text is None:
            warn_limited("annotate.tag", "llmobs: tag %s dropped: its name or value cannot "
                         "be read as a string", safe_repr(key))
            continue
        tags[name] = text
    return tags


def _tag_value(value: Any) -> str | None:
    if issubclass(type(value), str):
        return clean_text(value)
    text = as_name(value)
    if text is not None:
        return text
    try:
        return clean_text(str(value))
    except Exception:
        return None


def metadata_of(data: Any) -> dict[str, Any]:
    if type(data) is not dict and not issubclass(type(data), Mapping):
        raise Rejected(f"metadata must be a dict, not {type(data).__name__}")
    values = plain(data)
    if type(values) is not dict:
        raise Rejected(f"metadata could not be read: {values}")
    return values


def apply_annotations(span: LLMObsSpan, input_data: Any, output_data: Any, metadata: Any,
                      metrics: Any, tags: Any) -> None:
    """Each field is applied on its own: a bad one is dropped with a warning, the rest kept."""
    if input_data is not None or output_data is not None:
        _apply_io(span, input_data, output_data)
    if metadata is not None:
        try:
            values = metadata_of(metadata)
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
    reason = safe_str(exc) if type(exc) is Rejected else f"{type(exc).__name__}: {safe_str(exc)}"
    warn_limited(f"annotate.{field}", "llmobs: annotate(%s=...) dropped on span %s: %s",
                 field, safe_repr(span.name), reason[:500])


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
