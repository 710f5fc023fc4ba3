"""inject_distributed_headers / activate_distributed_headers through the public API: the
receiving side's spans continue the caller's trace with its ml_app and session."""

from __future__ import annotations

from llmobs_core import LLMObs
from llmobs_core.testing import capture


def _tags(event: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in event["tags"])


def test_headers_carry_the_trace_parent_ml_app_and_session() -> None:
    """A span opened under activated headers is the remote span's child, in its trace, under
    the caller's ml_app and session, while keeping the receiver's service tag."""
    with capture(ml_app="caller-app") as caller:
        with LLMObs.workflow("run-chat", session_id="sess-42") as sender:
            headers = LLMObs.inject_distributed_headers({})
    assert {"x-datadog-trace-id", "traceparent", "tracestate", "baggage"} <= set(headers)
    with capture(service="chat-proxy") as receiver:
        with LLMObs.activate_distributed_headers(headers):
            with LLMObs.task("proxy-handle"):
                pass
    (event,) = receiver.spans
    assert event["parent_id"] == str(sender.span_id)
    assert event["trace_id"] == caller.spans[0]["trace_id"]
    assert event["session_id"] == "sess-42"
    tags = _tags(event)
    assert tags["ml_app"] == "caller-app" and tags["service"] == "chat-proxy"


def test_explicit_ml_app_beats_the_propagated_one_which_beats_the_configured_one() -> None:
    """wire-formats.md's order: explicit > parent > propagated > configured."""
    with capture(ml_app="caller-app"), LLMObs.workflow("w"):
        headers = LLMObs.inject_distributed_headers({})
    with capture(ml_app="receiver-app") as receiver:
        with LLMObs.activate_distributed_headers(headers):
            with LLMObs.task("propagated"):
                pass
            with LLMObs.task("explicit", ml_app="routed-app"):
                pass
        with LLMObs.task("after"):
            pass
    assert _tags(receiver.by_name("propagated"))["ml_app"] == "caller-app"
    assert _tags(receiver.by_name("explicit"))["ml_app"] == "routed-app"
    assert _tags(receiver.by_name("after"))["ml_app"] == "receiver-app"
    assert receiver.by_name("after")["parent_id"] == "undefined"


def test_activation_without_a_with_block_stays_for_the_context() -> None:
    """Without `with`, the remote parent stays active for later spans in this context."""
    with capture(), LLMObs.workflow("w") as sender:
        headers = LLMObs.inject_distributed_headers({})
    with capture() as receiver:
        activation = LLMObs.activate_distributed_headers(headers)
        for name in ("a", "b"):
            with LLMObs.tool(name):
                pass
        activation.restore()
        with LLMObs.tool("c"):
            pass
    assert receiver.by_name("a")["parent_id"] == str(sender.span_id)
    assert receiver.by_name("b")["parent_id"] == str(sender.span_id)
    assert receiver.by_name("c")["parent_id"] == "undefined"


def test_garbage_headers_give_a_root_and_never_raise() -> None:
    """Broken headers are ignored: the span is a root with valid ids."""
    with capture() as receiver:
        with LLMObs.activate_distributed_headers({"x-datadog-trace-id": "-5",
                                                  "traceparent": "zz", "baggage": "%%%"}):
            with LLMObs.task("t"):
                pass
        LLMObs.activate_distributed_headers("not a dict")
        assert LLMObs.inject_distributed_headers("nope") == "nope"
    (event,) = receiver.spans
    assert event["parent_id"] == "undefined" and int(event["trace_id"], 16) > 0


def test_task_span_injecting_headers_is_tagged_as_an_ml_proxy_call() -> None:
    """The task span active when headers are injected gets ml-proxy:custom; others do not."""
    with capture() as captured:
        with LLMObs.workflow("run-chat"):
            with LLMObs.task("chat-proxy"):
                LLMObs.inject_distributed_headers({})
            LLMObs.inject_distributed_headers({})
    assert "ml-proxy:custom" in captured.by_name("chat-proxy")["tags"]
    assert "ml-proxy:custom" not in captured.by_name("run-chat")["tags"]


def test_no_active_span_injects_nothing_and_a_remote_context_is_passed_on() -> None:
    """With no span, nothing is written; with only an activated remote context, it is
    forwarded so a pass-through service keeps the trace whole."""
    with capture(), LLMObs.workflow("w") as sender:
        headers = LLMObs.inject_distributed_headers({})
    with capture():
        assert LLMObs.inject_distributed_headers({}) == {}
        with LLMObs.activate_distributed_headers(headers):
            forwarded = LLMObs.inject_distributed_headers({})
    assert forwarded["x-datadog-parent-id"] == str(sender.span_id)
