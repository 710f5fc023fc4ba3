"""Values are checked where they enter: span-opening arguments become strings or are refused
with a warning, annotate() snapshots what it is given, submit_evaluation() refuses what could
never be stored or sent, and propagated values are validated like explicit ones."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from llmobs_core import LLMObs
from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store.queries import list_spans
from llmobs_core.testing import capture
from tests.support.hostile import BadStr, UnboundProxy, cyclic_dict, deeply_nested


def test_the_issue_example_keeps_every_span_and_turns_an_int_session_into_a_string(
        tmp_path: Path) -> None:
    """session_id=42 is stored as "42", and the span beside it is not lost (local store)."""
    path = tmp_path / "t.db"
    LLMObs.enable(ml_app="x", exporter=LocalStoreSink(path))
    with LLMObs.task(name="ok"):
        pass
    with LLMObs.workflow(name="w", session_id=42):
        pass
    assert LLMObs.flush()
    stats = LLMObs.stats()
    assert stats["sent"] == 2 and sum(stats["dropped"].values()) == 0
    spans = {span["name"]: span for span in list_spans(path)}
    assert set(spans) == {"ok", "w"}
    assert spans["w"]["event"]["session_id"] == "42"


def test_names_and_ids_become_strings_or_are_refused_with_a_warning(caplog) -> None:
    """Numbers are written out; objects are refused (the name falls back to the kind) with a
    warning naming the argument."""
    with capture() as captured:
        with LLMObs.llm(name=7, model_name=3.5, model_provider=UnboundProxy(),
                        session_id=BadStr()):
            pass
        with LLMObs.task(name=object(), ml_app=12):
            pass
    llm, task = captured.spans
    assert llm["name"] == "7" and llm["meta"]["model_name"] == "3.5"
    assert llm["meta"]["model_provider"] == "custom" and "session_id" not in llm
    assert task["name"] == "task" and "ml_app:12" in task["tags"]
    for option in ("model_provider", "session_id", "name"):
        assert f"llmobs: {option}=" in caplog.text


def test_a_span_opened_without_a_name_takes_its_kind_without_a_warning(caplog) -> None:
    """name is optional (ddtrace's default is the kind): leaving it out is not a bad value."""
    with capture() as captured:
        with LLMObs.llm(model_name="m"), LLMObs.workflow(), LLMObs.trace("tool"):
            pass
    assert sorted(span["name"] for span in captured.spans) == ["llm", "tool", "workflow"]
    assert "ignored" not in caplog.text


def test_annotate_snapshots_hostile_cyclic_deep_and_oddly_keyed_values() -> None:
    """An unreadable object becomes a stand-in, a cycle and over-deep nesting are cut, keys
    become strings, and the span keeps every field that could be read."""
    with capture() as captured, LLMObs.workflow("w"):
        LLMObs.annotate(input_data={"proxy": UnboundProxy(), 1: "one", None: "null"},
                        output_data=cyclic_dict(), metadata={"deep": deeply_nested(200)},
                        metrics={"tokens": 2**80, "ratio": math.nan, 5: 1},
                        tags={"user": 42, "bad": BadStr()})
    (event,) = captured.spans
    assert '"proxy": "<UnboundProxy whose repr() failed>"' in event["meta"]["input"]["value"]
    assert '"1": "one"' in event["meta"]["input"]["value"]
    assert "<cycle: dict>" in event["meta"]["output"]["value"]
    assert "nested over 64 levels" in str(event["meta"]["metadata"]["deep"])
    assert event["metrics"] == {"tokens": float(2**80), "5": 1}
    assert "user:42" in event["tags"] and not any(t.startswith("bad:") for t in event["tags"])


def test_annotate_takes_a_snapshot_not_a_reference() -> None:
    """A value changed after annotate() is recorded as it was when annotated."""
    data = {"question": "first"}
    with capture() as captured, LLMObs.task("t"):
        LLMObs.annotate(input_data=data, metadata=data)
        data["question"] = "changed"
    (event,) = captured.spans
    assert event["meta"]["input"]["value"] == '{"question": "first"}'
    assert event["meta"]["metadata"] == {"question": "first"}


def test_text_utf8_cannot_encode_is_repaired_where_it_enters() -> None:
    """A lone surrogate in a name, a message or a tag becomes U+FFFD, so every sink can send it."""
    with capture() as captured, LLMObs.llm(name="half \ud83d"):
        LLMObs.annotate(input_data=[{"role": "user", "content": "x \udc00"}],
                        tags={"k": "\ud800"})
    (event,) = captured.spans
    assert event["name"] == "half \ufffd"
    assert event["meta"]["input"]["messages"] == [{"role": "user", "content": "x \ufffd"}]
    assert "k:\ufffd" in event["tags"]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"timestamp_ms": 2**64}, ValueError, "fits in 64 bits"),
    ({"metric_type": "json", "value": cyclic_dict()}, ValueError, "cycle"),
    ({"metric_type": "json", "value": {1: "x"}}, TypeError, "keys must be strings"),
    ({"metric_type": "json", "value": {"x": object()}}, TypeError, "holds a object"),
    ({"metric_type": "json", "value": {"x": math.inf}}, ValueError, "must be finite"),
    ({"metric_type": "score", "value": math.nan}, ValueError, "finite number"),
    ({"ml_app": 42}, TypeError, "ml_app must be a string"),
    ({"ml_app": "Not Valid"}, ValueError, "must be lowercase"),
    ({"tags": {"k": object()}}, TypeError, "strings or numbers"),
    ({"label": UnboundProxy()}, TypeError, "label must be a string"),
    ({"span_context": {"span_id": UnboundProxy(), "trace_id": "1"}}, ValueError, "span_id"),
    ({"tags": type("M", (dict,), {"items": lambda self: 1 / 0})()}, TypeError,
     "could not be read"),
])
def test_submit_evaluation_refuses_what_could_never_be_stored_or_sent(kwargs, error, message):
    """Each evaluation no sink could carry raises ValueError or TypeError saying why."""
    arguments = {"span_context": {"span_id": "1", "trace_id": "a" * 32}, "label": "q",
                 "metric_type": "score", "value": 1, **kwargs}
    with capture() as captured:
        with pytest.raises(error, match=message):
            LLMObs.submit_evaluation(**arguments)
        assert captured.evaluations == []


def test_an_accepted_json_evaluation_is_a_copy() -> None:
    """A json value changed after submit_evaluation() is sent as it was submitted."""
    value = {"scores": [1, 2]}
    with capture() as captured:
        LLMObs.submit_evaluation(span_context={"span_id": "1", "trace_id": "a" * 32},
                                 label="q", metric_type="json", value=value)
        value["scores"].append(3)
        (metric,) = captured.evaluations
    assert metric["json_value"] == {"scores": [1, 2]}


def test_an_invalid_propagated_ml_app_is_ignored_with_a_debug_log(caplog) -> None:
    """A baggage ml_app from any caller is validated; an invalid one gives way to the local
    default and says so at DEBUG; a valid one and the session are taken."""
    caplog.set_level(logging.DEBUG, "llmobs")
    incoming = {"x-datadog-trace-id": "1", "x-datadog-parent-id": "2",
                "baggage": "ml_app=Evil%20App%0A,session.id=s1"}
    with capture(ml_app="local") as captured:
        with LLMObs.activate_distributed_headers(incoming), LLMObs.task("t"):
            pass
        with LLMObs.activate_distributed_headers({**incoming, "baggage": "ml_app=remote"}), \
                LLMObs.task("u"):
            pass
    first, second = captured.spans
    assert "ml_app:local" in first["tags"] and first["session_id"] == "s1"
    assert "ml_app:remote" in second["tags"]
    assert "propagated ml_app 'Evil App\\n' ignored" in caplog.text
