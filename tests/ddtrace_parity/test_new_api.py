"""ddtrace's annotation_context, annotate(prompt=, tool_definitions=), register_processor,
submit_feedback, get_spans, enable() twice and decorator forms, on llmobs."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from llmobs_core import LLMObs
from llmobs_core.decorators import agent, task
from llmobs_core.testing import capture

PROMPT = {"id": "p1", "version": "1", "template": "Say {x}", "variables": {"x": "hi"}}


def _tags(event: dict) -> dict[str, str]:
    return dict(tag.partition(":")[::2] for tag in event["tags"])


def test_annotation_context_applies_to_spans_opened_inside_outer_first() -> None:
    """Nested contexts tag and rename spans opened inside them (inner wins), spans open
    before entering are untouched, nothing applies after exit, and async use works."""
    async def in_async() -> None:
        async with LLMObs.annotation_context(tags={"a": "async"}):
            with LLMObs.task(name="async-task"):
                pass

    with capture() as captured:
        with LLMObs.workflow(name="before"):
            with LLMObs.annotation_context(tags={"ctx": "outer"}, name="renamed", prompt=PROMPT):
                with LLMObs.annotation_context(tags={"ctx": "inner", "ctx2": "inner"}):
                    with LLMObs.llm(model_name="m", name="x"):
                        pass
        with LLMObs.task(name="after"):
            pass
        asyncio.run(in_async())
        spans = {e["name"]: e for e in captured.spans}
    assert set(spans) == {"before", "renamed", "after", "async-task"}
    assert "ctx" not in _tags(spans["before"]) and "ctx" not in _tags(spans["after"])
    renamed = spans["renamed"]
    assert _tags(renamed)["ctx"] == "inner" and _tags(renamed)["ctx2"] == "inner"
    assert renamed["meta"]["input"]["prompt"]["id"] == "p1"
    assert _tags(spans["async-task"])["a"] == "async"


def test_prompt_on_llm_spans_inherited_and_tool_versions() -> None:
    """A prompt is sent under meta.input.prompt in ddtrace's keys on llm spans; an llm child
    of a prompted workflow inherits it; tool_definitions are sent and give a tool span
    under that llm its version."""
    tools = [{"name": "lookup", "version": "2", "schema": {"type": "object"}}, {"bad": 1}]
    with capture(ml_app="app") as captured:
        with LLMObs.workflow(name="wf"):
            LLMObs.annotate(prompt={"template": "T"})
            with LLMObs.llm(model_name="m", name="child") as child:
                LLMObs.annotate(child, input_data="q", tool_definitions=tools)
                with LLMObs.tool(name="lookup"):
                    pass
        spans = {e["name"]: e for e in captured.spans}
    assert spans["child"]["meta"]["input"]["prompt"] == {
        "id": "app_unnamed-prompt", "ml_app": "app", "template": "T",
        "_dd_context_variable_keys": ["context"], "_dd_query_variable_keys": ["question"]}
    assert "input" not in spans["wf"]["meta"]
    assert _tags(spans["wf"])["prompt_tracking_instrumentation_method"] == "annotated"
    assert spans["child"]["meta"]["tool_definitions"] == tools[:1]
    assert spans["lookup"]["meta"]["tool"] == {"version": "2"}


def test_processor_in_ddtraces_shape_redacts_and_drops_and_dict_form_still_works() -> None:
    """A ddtrace-style processor sets span.output and span.metadata and drops by get_tag();
    register_processor(None) removes it; a dict-style processor still edits the event."""
    def redact(span):
        if span.get_tag("drop") == "yes":
            return None
        span.output = [{"content": "[REDACTED]", "role": ""}]
        span.metadata.pop("secret", None)
        return span

    with capture() as captured:
        LLMObs.register_processor(redact)
        with LLMObs.task(name="kept"):
            LLMObs.annotate(output_data="secret", metadata={"secret": 1, "ok": 2})
        with LLMObs.task(name="dropped"):
            LLMObs.annotate(tags={"drop": "yes"})
        LLMObs.flush()
        LLMObs.register_processor(None)
        with LLMObs.task(name="plain"):
            LLMObs.annotate(output_data="visible")
        spans = {e["name"]: e for e in captured.spans}
    assert set(spans) == {"kept", "plain"}
    assert spans["kept"]["meta"]["output"] == {"value": "[REDACTED]"}
    assert spans["kept"]["meta"]["metadata"] == {"ok": 2}
    assert spans["plain"]["meta"]["output"] == {"value": "visible"}

    def rename(event):
        event["name"] = "edited"
        return event

    with capture(span_processor=rename) as captured:
        with LLMObs.task(name="original"):
            pass
        assert [e["name"] for e in captured.spans] == ["edited"]


def test_feedback_is_sent_with_one_target_and_checked() -> None:
    """submit_feedback sends ddtrace's feedback metric (one top-level target, submitter) and
    raises on no or two targets."""
    with capture() as captured:
        with LLMObs.llm(name="x") as span:
            pass
        ids = LLMObs.export_span(span)
        LLMObs.submit_feedback("thumbs", "boolean", True, {"id": "u1"}, span=ids,
                               timestamp_ms=1, tags={"c": "web"})
        LLMObs.submit_feedback("note", "text", "good", {"id": "u1", "type": "end_user"},
                               session_id="s1", timestamp_ms=1)
        with pytest.raises(ValueError):
            LLMObs.submit_feedback("x", "score", 1, {"id": "u"})
        with pytest.raises(ValueError):
            LLMObs.submit_feedback("x", "score", 1, {"id": "u"}, span_id="1", trace_id="2")
        thumbs, note = captured.evaluations
    assert thumbs == {"event_kind": "feedback", "label": "thumbs", "metric_type": "boolean",
                      "boolean_value": True, "ml_app": thumbs["ml_app"], "timestamp_ms": 1,
                      "tags": [f"ml_app:{thumbs['ml_app']}", "c:web"],
                      "submitter": {"id": "u1"}, "span_id": ids["span_id"]}
    assert note["session_id"] == "s1" and note["text_value"] == "good"


def test_feedback_and_get_spans_through_the_local_store(tmp_path: Path) -> None:
    """With the local store, feedback is stored and listed by `llmobs evals`, and get_spans
    filters the stored spans by kind, name, tags and trace."""
    from llmobs_core.export.local import LocalStoreSink

    path = tmp_path / "traces.db"
    LLMObs.enable(ml_app="shop", exporter=LocalStoreSink(path), integrations_enabled=False)
    try:
        with LLMObs.workflow(name="root") as root:
            LLMObs.annotate(tags={"team": "ml"})
            with LLMObs.llm(name="chat"):
                LLMObs.annotate(tags={"team": "ml"})
        ids = LLMObs.export_span(root)
        LLMObs.submit_feedback("stars", "score", 4, {"id": "u"}, trace_id=ids["trace_id"])
        assert LLMObs.flush(10)
        chats = LLMObs.get_spans(span_kind="llm", tags={"team": "ml"})
        in_trace = LLMObs.get_spans(trace_id=ids["trace_id"], sort="-timestamp")
    finally:
        LLMObs.disable()
    assert [s["name"] for s in chats] == ["chat"] and chats[0]["span_kind"] == "llm"
    assert [s["name"] for s in in_trace] == ["chat", "root"]
    shown = subprocess.run([sys.executable, "-m", "llmobs_core.cli", "--path", str(path),
                            "evals", "--json"], capture_output=True, text=True)
    assert '"event_kind": "feedback"' in shown.stdout and '"stars"' in shown.stdout


def test_get_spans_before_anything_was_stored_finds_nothing(tmp_path: Path) -> None:
    """Enabled, no span written yet, so no store file: no spans, not FileNotFoundError."""
    from llmobs_core.export.local import LocalStoreSink

    path = tmp_path / "not-yet" / "traces.db"
    LLMObs.enable(ml_app="shop", exporter=LocalStoreSink(path), integrations_enabled=False)
    try:
        assert not path.exists()
        assert LLMObs.get_spans() == [] and LLMObs.get_spans(query="chat") == []
        assert LLMObs.get_spans(trace_id="6b15e22e00000000340ec271df9954ca") == []
    finally:
        LLMObs.disable()


def test_enable_twice_keeps_the_first_configuration(caplog) -> None:
    """A second enable() is ignored, with an INFO log, as in ddtrace; after disable() a new
    configuration applies."""
    with capture(ml_app="first") as captured, caplog.at_level(logging.INFO, "llmobs"):
        LLMObs.enable(ml_app="second")
        with LLMObs.task(name="t"):
            pass
        assert _tags(captured.spans[0])["ml_app"] == "first"
    assert "already enabled" in caplog.text


def test_decorators_take_version_and_mark_their_spans() -> None:
    """@agent(version=) tags agent_version; version= elsewhere is ignored with a warning;
    decorated spans carry decorator:1."""
    @agent(version="2.0")
    def run(goal):
        return goal

    @task(version="ignored")
    def step():
        return None

    with capture() as captured:
        run("g")
        step()
        spans = {e["name"]: e for e in captured.spans}
    assert _tags(spans["run"])["agent_version"] == "2.0"
    assert _tags(spans["run"])["decorator"] == "1" and _tags(spans["step"])["decorator"] == "1"
    assert "agent_version" not in _tags(spans["step"])


def test_feedback_over_otlp_is_an_evaluator_span_in_its_trace() -> None:
    """Over OTLP, feedback on a trace is an EVALUATOR span in that trace and feedback on a
    session one of its own, each with its target and submitter as attributes."""
    from llmobs_core.export.otlp import OTLPSink
    from tests.support.fake_otlp import FakeOTLPReceiver

    with FakeOTLPReceiver() as receiver:
        LLMObs.enable(ml_app="shop", exporter=OTLPSink(receiver.url + "/v1/traces"),
                      integrations_enabled=False)
        try:
            LLMObs.submit_feedback("comment", "text", "great", {"id": "u1"},
                                   trace_id="6a000000000000001234567890abcdef")
            LLMObs.submit_feedback("rating", "score", 4, {"id": "u1", "type": "end_user"},
                                   session_id="s1")
            assert LLMObs.flush(10)
        finally:
            LLMObs.disable()
        spans = {span["name"]: span for span in receiver.spans}
    comment, rating = spans["feedback:comment"], spans["feedback:rating"]
    assert comment["trace_id"] == 0x6a000000000000001234567890abcdef
    assert comment["attributes"]["openinference.span.kind"] == "EVALUATOR"
    assert comment["attributes"]["gen_ai.evaluation.score.label"] == "great"
    assert rating["attributes"]["llmobs.feedback.session_id"] == "s1"
    assert rating["attributes"]["llmobs.feedback.submitter.type"] == "end_user"
    assert rating["attributes"]["gen_ai.evaluation.score.value"] == 4.0
