"""Validation of submit_evaluation() arguments into an evaluation metric
(docs/wire-formats.md). A mistake here is a programming error, so it raises ValueError or
TypeError with a message that says what to fix; an evaluation accepted here can always be
stored and sent (its values are copied, so later changes to them do not matter)."""

from __future__ import annotations

import inspect
import math
import numbers
import time
from collections.abc import Mapping
from typing import Any

from ._faults import safe_str
from ._values import as_name, clean_text, safe_repr
from .config import ml_app_problem

METRIC_TYPES = ("boolean", "categorical", "json", "score")
ASSESSMENTS = ("fail", "pass")
SCOPES = ("span", "trace")
_MAX_TIMESTAMP_MS = 2**63 - 1
_MAX_JSON_DEPTH = 64


# The former order of submit_evaluation()'s arguments, from when the span came first.
_FORMER_ORDER = ("span_context", "label", "metric_type", "value", "tags", "ml_app", "timestamp_ms",
                 "assessment", "reasoning", "span_with_tag_value")


def submit_evaluation(
    label: str,
    metric_type: str,
    value: Any,
    span: dict[str, str] | None = None,
    span_with_tag_value: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    ml_app: str | None = None,
    timestamp_ms: int | None = None,
    metadata: dict[str, Any] | None = None,
    assessment: str | None = None,
    reasoning: str | None = None,
    eval_scope: str = "span",
    agent_service: str | None = None,
    span_context: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The signature of LLMObs.submit_evaluation (ddtrace's, plus the Node.js SDK's
    span_context); returns its arguments by name."""
    return dict(locals())


_SIGNATURE = inspect.signature(submit_evaluation)


def evaluation_from_call(args: tuple[Any, ...], kwargs: dict[str, Any],
                         default_ml_app: str) -> dict[str, Any]:
    """The metric for one LLMObs.submit_evaluation(*args, **kwargs) call."""
    if args and issubclass(type(args[0]), Mapping):  # the former order: the span came first
        if len(args) > len(_FORMER_ORDER):
            raise TypeError("submit_evaluation() takes at most 10 positional arguments")
        kwargs = {**dict(zip(_FORMER_ORDER, args)), **kwargs}
        args = ()
    for required in ("label", "metric_type", "value")[len(args):]:
        kwargs.setdefault(required, None)  # missing: build_evaluation says which and why
    named = submit_evaluation(*args, **kwargs)
    span, span_context = named.pop("span"), named.pop("span_context")
    if span is not None and span_context is not None:
        raise ValueError("give span or span_context (two names for the same thing), not both")
    agent_service = named.pop("agent_service")
    if agent_service is not None:
        named["ml_app"] = agent_service
    return build_evaluation(span_context=span if span is not None else span_context,
                            default_ml_app=default_ml_app, **named)


def build_evaluation(**arguments: Any) -> dict[str, Any]:
    """The metric for submit_evaluation()'s keyword `arguments` (see `_build`). An argument
    that raises when it is read (a hostile __eq__, a mapping whose items() raises) is reported
    as a TypeError, like any other argument of the wrong kind."""
    try:
        return _build(**arguments)
    except (ValueError, TypeError):
        raise
    except Exception as exc:
        raise TypeError(f"an argument of submit_evaluation() could not be read: "
                        f"{type(exc).__name__}: {safe_str(exc)[:200]}") from exc


def _build(*, span_context: Any, span_with_tag_value: Any, label: Any, metric_type: Any,
           value: Any, tags: Any, ml_app: Any, default_ml_app: str, timestamp_ms: Any,
           assessment: Any, reasoning: Any, metadata: Any = None,
           eval_scope: Any = "span") -> dict[str, Any]:
    join_on = _join_on(span_context, span_with_tag_value)
    label = _text("label", label)
    if not label:
        raise ValueError("label must be a non-empty string")
    if "." in label:
        raise ValueError(f"label {label!r} must not contain '.'; use '_' instead")
    kind = _text("metric_type", metric_type).lower()
    if kind not in METRIC_TYPES:
        raise ValueError(f"metric_type {kind!r} must be one of {', '.join(METRIC_TYPES)}")
    app = _ml_app(ml_app, default_ml_app)
    metric: dict[str, Any] = {
        "event_kind": "evaluation",  # as ddtrace 4.x writes it (feedback: "feedback")
        "join_on": join_on,
        "label": label,
        "metric_type": kind,
        f"{kind}_value": _value(kind, value),
        "ml_app": app,
        "timestamp_ms": _timestamp(timestamp_ms),
        "tags": [f"ml_app:{app}", *_tags(tags)],
        "eval_scope": _scope(eval_scope),
    }
    if metadata is not None:
        _mapping("metadata", metadata, "string keys")
        metric["metadata"] = json_copy(metadata, 0, set())
    add_judgement(metric, assessment, reasoning)
    return metric


def add_judgement(metric: dict[str, Any], assessment: Any, reasoning: Any) -> None:
    """The optional assessment ("pass" / "fail") and reasoning of an evaluation or feedback,
    checked; ValueError or TypeError otherwise."""
    if assessment is not None:
        if type(assessment) is not str or assessment not in ASSESSMENTS:
            raise ValueError(f"assessment {safe_repr(assessment)} must be 'pass' or 'fail'")
        metric["assessment"] = assessment
    if reasoning is not None:
        metric["reasoning"] = _text("reasoning", reasoning)


def _scope(eval_scope: Any) -> str:
    """"span" evaluates the span it joins on; "trace" the trace of that span (join on the root
    span's ids, as ddtrace's docs say)."""
    if type(eval_scope) is not str or eval_scope not in SCOPES:
        raise ValueError(f"eval_scope {safe_repr(eval_scope)} must be 'span' or 'trace'")
    return eval_scope


def _text(name: str, value: Any) -> str:
    if not issubclass(type(value), str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return clean_text(value)


def _mapping(name: str, value: Any, shape: str) -> Mapping[Any, Any]:
    if not issubclass(type(value), Mapping):
        raise TypeError(f"{name} must be a dict with {shape}, not {type(value).__name__}")
    return value


def _join_on(span_context: Any, span_with_tag_value: Any) -> dict[str, Any]:
    if (span_context is None) == (span_with_tag_value is None):
        raise ValueError("give exactly one of span_context ({'span_id', 'trace_id'}, as returned "
                         "by LLMObs.export_span) or span_with_tag_value ({'tag_key', 'tag_value'})")
    if span_context is not None:
        ids = _mapping("span_context", span_context, "span_id and trace_id, as returned by "
                       "LLMObs.export_span()")
        span_id, trace_id = ids.get("span_id"), ids.get("trace_id")
        if not (issubclass(type(span_id), str) and span_id
                and issubclass(type(trace_id), str) and trace_id):
            raise ValueError("span_context needs non-empty string span_id and trace_id")
        return {"span": {"span_id": clean_text(span_id), "trace_id": clean_text(trace_id)}}
    tag = _mapping("span_with_tag_value", span_with_tag_value, "tag_key and tag_value")
    key, value = tag.get("tag_key"), tag.get("tag_value")
    if not (issubclass(type(key), str) and key and issubclass(type(value), str) and value):
        raise ValueError("span_with_tag_value needs non-empty string tag_key and tag_value")
    return {"tag": {"key": clean_text(key), "value": clean_text(value)}}


def _ml_app(ml_app: Any, default: str) -> str:
    if ml_app is None or (type(ml_app) is str and not ml_app):
        return default
    name = _text("ml_app", ml_app)
    problem = ml_app_problem(name)
    if problem:
        raise ValueError(f"ml_app {safe_repr(name)} is invalid: {problem}")
    return name


def _timestamp(timestamp_ms: Any) -> int:
    if timestamp_ms is None:
        return time.time_ns() // 1_000_000
    kind = type(timestamp_ms)
    value = None if issubclass(kind, bool) or not issubclass(kind, int) else (
        int.__index__(timestamp_ms))
    if value is None or value <= 0:
        raise TypeError("timestamp_ms must be a positive integer of Unix milliseconds")
    if value > _MAX_TIMESTAMP_MS:
        raise ValueError("timestamp_ms must be a positive integer of Unix milliseconds that "
                         "fits in 64 bits")
    return value


def _value(kind: str, value: Any) -> Any:
    value_type = type(value)
    if kind == "categorical":
        return _text("a categorical evaluation's value", value)
    if kind == "boolean":
        if value is not True and value is not False:
            raise TypeError(f"a boolean evaluation's value must be a bool, "
                            f"not {value_type.__name__}")
        return value
    if kind == "score":
        if issubclass(value_type, bool) or not issubclass(value_type, numbers.Real):
            raise TypeError(f"a score evaluation's value must be a number, "
                            f"not {value_type.__name__}")
        score = int.__index__(value) if issubclass(value_type, int) else float(value)
        if abs(score) >= 2**63 if type(score) is int else not math.isfinite(score):
            raise ValueError("a score evaluation's value must be a finite number within "
                             "64 bits")
        return score
    _mapping("a json evaluation's value", value, "string keys")
    return json_copy(value, 0, set())


def json_copy(value: Any, depth: int, path: set[int]) -> Any:
    """A copy of `value` made of what JSON carries exactly: dicts with string keys, lists,
    strings, finite numbers within 64 bits, booleans and None. Raises TypeError or ValueError
    saying what is not."""
    kind = type(value)
    if value is None or kind is bool:
        return value
    if issubclass(kind, str):
        return clean_text(value)
    if issubclass(kind, (int, float)):
        number = int.__index__(value) if issubclass(kind, int) else float.__float__(value)
        if abs(number) >= 2**63 if type(number) is int else not math.isfinite(number):
            raise ValueError(f"a json value holds {safe_repr(number)}: numbers must be finite "
                             f"and fit in 64 bits")
        return number
    if not issubclass(kind, (Mapping, list, tuple)):
        raise TypeError(f"a json value holds a {kind.__name__}: use dicts, lists, strings, "
                        f"numbers, booleans and None")
    if depth >= _MAX_JSON_DEPTH:
        raise ValueError(f"a json value is nested over {_MAX_JSON_DEPTH} levels")
    if id(value) in path:
        raise ValueError("a json value contains itself (a cycle)")
    path.add(id(value))
    try:
        if issubclass(kind, Mapping):
            copy = {}
            for key, item in value.items():
                if not issubclass(type(key), str):
                    raise TypeError(f"a json value has the key {safe_repr(key)}: keys must be "
                                    f"strings")
                copy[clean_text(key)] = json_copy(item, depth + 1, path)
            return copy
        return [json_copy(item, depth + 1, path) for item in value]
    finally:
        path.discard(id(value))


def _tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    items = _mapping("tags", tags, "tag names to values").items()
    out = []
    for key, value in items:
        name = as_name(key)
        text = (clean_text(value) if issubclass(type(value), str)
                else str(value) if type(value) is bool else as_name(value))
        if name is None or text is None:
            raise TypeError(f"tag {safe_repr(key)}: names and values must be strings or numbers")
        out.append(f"{name}:{text}")
    return out
