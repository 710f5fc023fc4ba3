"""submit_feedback(): end-user feedback on a span, a trace, a session or a key of the
application's own, in ddtrace 4.x's shape (event_kind "feedback", sent beside evaluations). A
mistake raises ValueError or TypeError, as submit_evaluation() does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._values import clean_text
from .evaluations import _ml_app, _tags, _text, _timestamp, _value, add_judgement

FEEDBACK_TYPES = ("boolean", "categorical", "json", "score", "text")
TARGETS = ("span_id", "trace_id", "session_id", "feedback_join_key")


def submit_feedback(
    label: str,
    metric_type: str,
    value: Any,
    submitter: dict[str, str],
    span: dict[str, str] | None = None,
    span_id: str | None = None,
    trace_id: str | None = None,
    session_id: str | None = None,
    feedback_join_key: str | None = None,
    tags: dict[str, str] | None = None,
    ml_app: str | None = None,
    timestamp_ms: int | None = None,
    assessment: str | None = None,
    reasoning: str | None = None,
    agent_service: str | None = None,
) -> dict[str, Any]:
    """The signature of LLMObs.submit_feedback; returns its arguments by name."""
    return dict(locals())


def build_feedback(default_ml_app: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The feedback metric for submit_feedback()'s `arguments` (by name)."""
    target, target_value = _target(arguments)
    label = _text("label", arguments["label"])
    if not label:
        raise ValueError("label must be a non-empty string")
    kind = _text("metric_type", arguments["metric_type"]).lower()
    if kind not in FEEDBACK_TYPES:
        raise ValueError(f"metric_type {kind!r} must be one of {', '.join(FEEDBACK_TYPES)}")
    app = arguments["agent_service"] or arguments["ml_app"]
    app = _ml_app(app, default_ml_app)
    value = arguments["value"]
    metric: dict[str, Any] = {
        "event_kind": "feedback",
        "label": label,
        "metric_type": kind,
        f"{kind}_value": _text("a text feedback's value", value) if kind == "text"
        else _value(kind, value),
        "ml_app": app,
        "timestamp_ms": _timestamp(arguments["timestamp_ms"]),
        "tags": [f"ml_app:{app}", *_tags(arguments["tags"])],
        "submitter": _submitter(arguments["submitter"]),
        target: target_value,
    }
    add_judgement(metric, arguments["assessment"], arguments["reasoning"])
    return metric


def _target(arguments: dict[str, Any]) -> tuple[str, str]:
    span = arguments["span"]
    given = [(key, arguments[key]) for key in TARGETS if arguments[key] is not None]
    if span is not None:
        if not issubclass(type(span), Mapping):
            raise TypeError(f"span must be a dict as LLMObs.export_span() returns it, not "
                            f"{type(span).__name__}")
        given.append(("span_id", span.get("span_id")))
    if len(given) != 1:
        raise ValueError("give exactly one of span, span_id, trace_id, session_id or "
                         "feedback_join_key")
    key, value = given[0]
    if not (issubclass(type(value), str) and value):
        raise ValueError(f"{key} must be a non-empty string")
    return key, clean_text(value)


def _submitter(submitter: Any) -> dict[str, str]:
    if not issubclass(type(submitter), Mapping):
        raise TypeError(f"submitter must be a dict with an id, not {type(submitter).__name__}")
    who, kind = submitter.get("id"), submitter.get("type")
    if not (issubclass(type(who), str) and who):
        raise ValueError("submitter needs a non-empty string id")
    checked = {"id": clean_text(who)}
    if kind is not None:
        checked["type"] = _text("submitter type", kind)
    return checked
