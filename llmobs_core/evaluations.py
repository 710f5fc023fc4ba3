"""Validation of submit_evaluation() arguments into an evaluation metric
(docs/wire-formats.md). A mistake here is a programming error, so it raises with a message
that says what to fix."""

from __future__ import annotations

import numbers
import time
from collections.abc import Mapping
from typing import Any

METRIC_TYPES = ("boolean", "categorical", "json", "score")
ASSESSMENTS = ("fail", "pass")


def _check_value(metric_type: str, value: Any) -> None:
    expected = {
        "categorical": (isinstance(value, str), "a string"),
        "score": (isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"),
        "boolean": (isinstance(value, bool), "a bool"),
        "json": (isinstance(value, Mapping), "a dict"),
    }[metric_type]
    if not expected[0]:
        raise TypeError(f"a {metric_type} evaluation's value must be {expected[1]}, "
                        f"not {type(value).__name__}")


def _join_on(span_context: Any, span_with_tag_value: Any) -> dict[str, Any]:
    if (span_context is None) == (span_with_tag_value is None):
        raise ValueError("give exactly one of span_context ({'span_id', 'trace_id'}, as returned "
                         "by LLMObs.export_span) or span_with_tag_value ({'tag_key', 'tag_value'})")
    if span_context is not None:
        if not isinstance(span_context, Mapping):
            raise TypeError("span_context must be a dict with span_id and trace_id, as returned "
                            "by LLMObs.export_span()")
        span_id, trace_id = span_context.get("span_id"), span_context.get("trace_id")
        if not (isinstance(span_id, str) and span_id and isinstance(trace_id, str) and trace_id):
            raise ValueError("span_context needs non-empty string span_id and trace_id")
        return {"span": {"span_id": span_id, "trace_id": trace_id}}
    if not isinstance(span_with_tag_value, Mapping):
        raise TypeError("span_with_tag_value must be a dict with tag_key and tag_value")
    key, value = span_with_tag_value.get("tag_key"), span_with_tag_value.get("tag_value")
    if not (isinstance(key, str) and key and isinstance(value, str) and value):
        raise ValueError("span_with_tag_value needs non-empty string tag_key and tag_value")
    return {"tag": {"key": key, "value": value}}


def build_evaluation(
    *,
    span_context: Any,
    span_with_tag_value: Any,
    label: Any,
    metric_type: Any,
    value: Any,
    tags: Any,
    ml_app: str,
    timestamp_ms: Any,
    assessment: Any,
    reasoning: Any,
) -> dict[str, Any]:
    join_on = _join_on(span_context, span_with_tag_value)
    if not isinstance(label, str) or not label:
        raise ValueError("label must be a non-empty string")
    if "." in label:
        raise ValueError(f"label {label!r} must not contain '.'; use '_' instead")
    if not isinstance(metric_type, str) or metric_type.lower() not in METRIC_TYPES:
        raise ValueError(f"metric_type {metric_type!r} must be one of {', '.join(METRIC_TYPES)}")
    metric_type = metric_type.lower()
    _check_value(metric_type, value)
    if timestamp_ms is None:
        timestamp_ms = time.time_ns() // 1_000_000
    elif isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise TypeError("timestamp_ms must be a positive integer of Unix milliseconds")
    if tags is not None and not isinstance(tags, Mapping):
        raise TypeError("tags must be a dict of tag names to values")
    metric: dict[str, Any] = {
        "join_on": join_on,
        "label": label,
        "metric_type": metric_type,
        f"{metric_type}_value": dict(value) if metric_type == "json" else value,
        "ml_app": ml_app,
        "timestamp_ms": timestamp_ms,
        "tags": [f"ml_app:{ml_app}", *(f"{k}:{v}" for k, v in (tags or {}).items())],
    }
    if assessment is not None:
        if assessment not in ASSESSMENTS:
            raise ValueError(f"assessment {assessment!r} must be 'pass' or 'fail'")
        metric["assessment"] = assessment
    if reasoning is not None:
        if not isinstance(reasoning, str):
            raise TypeError("reasoning must be a string")
        metric["reasoning"] = reasoning
    return metric
