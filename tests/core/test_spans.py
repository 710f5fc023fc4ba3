"""Spans of every kind, their tree, ids, ml_app and session inheritance, errors, and the
disabled no-op path."""

from __future__ import annotations

import re

import pytest

from llmobs_core import KINDS, LLMObs, LLMObsSpan
from llmobs_core.testing import capture


def _tags(event: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in event["tags"])


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_exported_with_its_kind_name_and_wire_shape(kind: str) -> None:
    """Every kind's context manager yields a span whose event has the wire format's keys and
    types."""
    with capture(ml_app="shop", service="api", env="prod", version="1.2") as captured:
        with getattr(LLMObs, kind)(name=f"my-{kind}") as span:
            assert isinstance(span, LLMObsSpan)
    (event,) = captured.spans
    assert event["name"] == f"my-{kind}"
    assert event["meta"]["span"] == {"kind": kind}
    assert re.fullmatch(r"[0-9a-f]{32}", event["trace_id"])
    assert re.fullmatch(r"[1-9][0-9]*", event["span_id"])
    assert event["parent_id"] == "undefined"
    assert event["status"] == "ok"
    assert isinstance(event["start_ns"], int) and isinstance(event["duration"], int)
    assert event["duration"] > 0
    assert event["_dd"] == {"span_id": event["span_id"], "trace_id": event["trace_id"],
                            "apm_trace_id": event["trace_id"], "sample_rate": "1",
                            "sampling_decision": "1"}
    tags = _tags(event)
    assert tags["ml_app"] == "shop" and tags["service"] == "api" and tags["env"] == "prod"
    assert tags["version"] == "1.2" and tags["language"] == "python" and tags["error"] == "0"
    if kind in ("llm", "embedding"):
        assert event["meta"]["model_name"] == "custom"
        assert event["meta"]["model_provider"] == "custom"
    else:
        assert "model_name" not in event["meta"]


def test_root_trace_id_carries_unix_seconds_in_its_top_bits() -> None:
    """A root's 128-bit trace id has the start second on top, 32 zero bits, then 64 random."""
    with capture() as captured, LLMObs.workflow("root"):
        pass
    (event,) = captured.spans
    trace_id = int(event["trace_id"], 16)
    assert abs((trace_id >> 96) - event["start_ns"] // 1_000_000_000) <= 1
    assert (trace_id >> 64) & 0xFFFFFFFF == 0


def test_children_inherit_trace_ml_app_and_session_and_link_to_their_parent() -> None:
    """A nested tree keeps one trace id, parent links, and passes ml_app and session down."""
    with capture(ml_app="default-app") as captured:
        with LLMObs.workflow("root", session_id="sess-1", ml_app="chat-app") as root:
            with LLMObs.agent("agent") as agent:
                with LLMObs.llm(model_name="gpt-4o", model_provider="OpenAI", name="call"):
                    pass
                with LLMObs.tool("tool", ml_app="tools-app"):
                    pass
        with LLMObs.task("other-root"):
            pass
    spans = {event["name"]: event for event in captured.spans}
    assert spans["agent"]["parent_id"] == str(root.span_id)
    assert spans["call"]["parent_id"] == str(agent.span_id)
    assert spans["tool"]["parent_id"] == str(agent.span_id)
    trace_ids = {spans[name]["trace_id"] for name in ("root", "agent", "call", "tool")}
    assert trace_ids == {f"{root.trace_id:032x}"}
    assert spans["other-root"]["trace_id"] not in trace_ids
    assert {spans[n]["session_id"] for n in ("root", "agent", "call", "tool")} == {"sess-1"}
    assert "session_id" not in spans["other-root"]
    assert _tags(spans["call"])["ml_app"] == "chat-app"
    assert _tags(spans["tool"])["ml_app"] == "tools-app"
    assert _tags(spans["other-root"])["ml_app"] == "default-app"
    assert spans["call"]["meta"]["model_name"] == "gpt-4o"
    assert spans["call"]["meta"]["model_provider"] == "openai"


def test_ml_app_falls_back_to_service_then_to_unnamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no ml_app configured the service name is used, and with neither, unnamed-ml-app."""
    monkeypatch.delenv("DD_LLMOBS_ML_APP", raising=False)
    monkeypatch.delenv("DD_SERVICE", raising=False)
    with capture(service="billing") as captured, LLMObs.task("t"):
        pass
    assert _tags(captured.spans[0])["ml_app"] == "billing"
    with capture() as captured, LLMObs.task("t"):
        pass
    assert _tags(captured.spans[0])["ml_app"] == "unnamed-ml-app"


def test_invalid_ml_app_at_run_time_is_logged_and_the_inherited_one_kept(caplog) -> None:
    """A span given a bad ml_app keeps its parent's, with a warning that names the rule."""
    with capture(ml_app="good-app") as captured:
        with LLMObs.workflow("root"), LLMObs.task("child", ml_app="Bad App"):
            pass
    child = captured.by_name("child")
    assert _tags(child)["ml_app"] == "good-app"
    assert "must be lowercase" in caplog.text


def test_exception_marks_the_span_as_error_and_propagates_unchanged() -> None:
    """An exception inside a span sets status error with type, message and stack, and the
    very same exception object reaches the caller."""
    boom = KeyError("missing")
    with capture() as captured:
        with pytest.raises(KeyError) as raised, LLMObs.tool("lookup"):
            raise boom
    assert raised.value is boom
    (event,) = captured.spans
    assert event["status"] == "error"
    error = event["meta"]["error"]
    assert error["type"] == "builtins.KeyError" and error["message"] == "'missing'"
    assert "raise boom" in error["stack"]
    tags = _tags(event)
    assert tags["error"] == "1" and tags["error_type"] == "builtins.KeyError"


def test_disabled_calls_are_no_ops_that_still_run_user_code() -> None:
    """Before enable(), spans, annotate, export and evaluations do nothing and never raise."""
    ran = []
    with LLMObs.workflow("w") as span:
        ran.append(True)
        LLMObs.annotate(span, input_data="x")
    assert ran == [True]
    assert LLMObs.export_span(span) is None
    assert LLMObs.submit_evaluation({"span_id": "1", "trace_id": "2"}, label="l",
                                    metric_type="score", value=1) is None
    assert LLMObs.flush() is True
    assert LLMObs.enabled() is False


def test_enable_twice_is_harmless_and_disable_undoes_it() -> None:
    """A second enable() replaces the first without losing its spans; disable() stops."""
    with capture(ml_app="one") as captured:
        with LLMObs.task("before"):
            pass
        assert LLMObs.enabled()
        LLMObs.disable()
        assert not LLMObs.enabled()
        with LLMObs.task("while-disabled"):
            pass
    assert [e["name"] for e in captured.spans] == ["before"]


def test_trace_opens_any_kind_and_runs_unknown_kinds_untraced(caplog) -> None:
    """LLMObs.trace() is the generic form; an unknown kind logs a warning and records nothing."""
    with capture() as captured:
        with LLMObs.trace("retrieval", "search", session_id="s") as span:
            assert LLMObs.current_span() is span
        ran = False
        with LLMObs.trace("banana", "nope"):
            ran = True
    assert ran
    assert [(e["name"], e["meta"]["span"]["kind"]) for e in captured.spans] == [
        ("search", "retrieval")]
    assert "unknown span kind 'banana'" in caplog.text
    assert "workflow" in caplog.text  # the message lists the valid kinds


def test_export_span_returns_string_ids_of_the_given_or_active_span() -> None:
    """export_span() gives the decimal span id and 32-hex trace id the intake joins on."""
    with capture() as captured, LLMObs.workflow("w") as span:
        exported = LLMObs.export_span()
        assert exported == LLMObs.export_span(span)
    assert exported == {"span_id": captured.spans[0]["span_id"],
                        "trace_id": captured.spans[0]["trace_id"]}


def test_span_finished_without_context_manager_is_exported_once() -> None:
    """finish() ends a span exactly once, however often it is called."""
    with capture() as captured:
        span = LLMObs.task("manual")
        span.finish()
        span.finish()
    assert [e["name"] for e in captured.spans] == ["manual"]


def test_a_record_is_a_tuple_short_enough_for_the_free_list() -> None:
    """CPython reuses tuples of fewer than 20 items, and a reused one does not count toward
    the next garbage collection: a record of 20 or more would make a busy server collect every
    few hundred spans (docs/asgi.md, "A fourth look")."""
    with capture(ml_app="shop"):
        with LLMObs.llm(name="chat", model_name="m") as span:
            LLMObs.annotate(span, tool_definitions=[{"name": "search"}])
        with LLMObs.task("plain") as plain:
            pass
    for record in (span.record(), plain.record()):
        assert type(record) is tuple and len(record) < 20
        assert type(record[-1]) is tuple and len(record[-1]) < 20


def test_a_record_holds_the_span_fields_in_record_fields_order() -> None:
    """record() spells its fields out for speed; the writer and the event builder read them by
    their place in RECORD_FIELDS, so the two must agree (the span is filled in so that most
    fields differ and an order slip shows)."""
    from tests.support.records import FLAT_FIELDS, record_from_flat

    with capture(ml_app="shop") as captured:
        with LLMObs.llm(name="chat", model_name="m", model_provider="p", session_id="s") as span:
            LLMObs.annotate(span, input_data="hi", output_data="yo", metadata={"n": 1},
                            metrics={"input_tokens": 3}, tags={"t": "v"})
            span.set_exception(ValueError("boom"))
    assert span.record() == record_from_flat([getattr(span, field) for field in FLAT_FIELDS])
    (event,) = captured.spans
    assert event["meta"]["input"]["messages"][0]["content"] == "hi"
