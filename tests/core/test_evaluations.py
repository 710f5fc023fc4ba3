"""submit_evaluation(): wire-formats.md's metric shape, and errors that say what to fix."""

from __future__ import annotations

import time

import pytest

from llmobs_core import LLMObs
from llmobs_core.testing import capture


@pytest.mark.parametrize(("metric_type", "value"), [
    ("categorical", "helpful"), ("score", 0.75), ("boolean", True), ("json", {"a": [1]}),
])
def test_each_metric_type_joins_on_the_span(metric_type, value) -> None:
    """Each metric type is sent with its own value key, joined to the exported span."""
    with capture(ml_app="chat") as captured:
        with LLMObs.llm(name="answer") as span:
            context = LLMObs.export_span(span)
        before = time.time_ns() // 1_000_000
        LLMObs.submit_evaluation(context, label="quality", metric_type=metric_type, value=value,
                                 tags={"evaluator": "human"}, assessment="pass",
                                 reasoning="looks right")
    (metric,) = captured.evaluations
    assert metric["join_on"] == {"span": context}
    assert metric[f"{metric_type}_value"] == value
    assert metric["metric_type"] == metric_type and metric["label"] == "quality"
    assert metric["ml_app"] == "chat"
    assert metric["tags"] == ["ml_app:chat", "evaluator:human"]
    assert metric["assessment"] == "pass" and metric["reasoning"] == "looks right"
    assert isinstance(metric["timestamp_ms"], int) and metric["timestamp_ms"] >= before


def test_join_by_tag_explicit_ml_app_and_timestamp() -> None:
    """span_with_tag_value joins on a tag; ml_app and timestamp_ms are taken as given."""
    with capture(ml_app="chat") as captured:
        LLMObs.submit_evaluation(span_with_tag_value={"tag_key": "msg_id", "tag_value": "42"},
                                 label="thumbs", metric_type="boolean", value=False,
                                 ml_app="other-app", timestamp_ms=1_700_000_000_000)
    (metric,) = captured.evaluations
    assert metric["join_on"] == {"tag": {"key": "msg_id", "value": "42"}}
    assert metric["ml_app"] == "other-app" and metric["timestamp_ms"] == 1_700_000_000_000
    assert "assessment" not in metric and "reasoning" not in metric


CONTEXT = {"span_id": "1", "trace_id": "0" * 31 + "1"}


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"label": ""}, ValueError, "label must be a non-empty string"),
    ({"label": "a.b"}, ValueError, "must not contain '.'"),
    ({"metric_type": "percent"}, ValueError, "must be one of boolean, categorical, json, score"),
    ({"metric_type": "score", "value": "high"}, TypeError, "must be a number"),
    ({"metric_type": "score", "value": True}, TypeError, "must be a number"),
    ({"metric_type": "boolean", "value": 1}, TypeError, "must be a bool"),
    ({"metric_type": "categorical", "value": 3}, TypeError, "must be a string"),
    ({"metric_type": "json", "value": [1]}, TypeError, "must be a dict"),
    ({"timestamp_ms": 1.5}, TypeError, "timestamp_ms must be a positive integer"),
    ({"timestamp_ms": -1}, TypeError, "timestamp_ms must be a positive integer"),
    ({"assessment": "ok"}, ValueError, "'pass' or 'fail'"),
    ({"reasoning": 5}, TypeError, "reasoning must be a string"),
    ({"tags": ["a:b"]}, TypeError, "tags must be a dict"),
    ({"span_context": None}, ValueError, "exactly one of span_context"),
    ({"span_with_tag_value": {"tag_key": "k", "tag_value": "v"}}, ValueError, "exactly one"),
    ({"span_context": {"span_id": "1"}}, ValueError, "span_id and trace_id"),
    ({"span_context": "1:2"}, TypeError, "as returned by LLMObs.export_span"),
])
def test_invalid_arguments_raise_with_a_message_that_says_what_to_fix(kwargs, error, message):
    """Each mistake raises the right exception type naming the fix; nothing is sent."""
    arguments = {"span_context": CONTEXT, "label": "q", "metric_type": "categorical",
                 "value": "good", **kwargs}
    with capture() as captured:
        with pytest.raises(error, match=message):
            LLMObs.submit_evaluation(**arguments)
        assert captured.evaluations == []
