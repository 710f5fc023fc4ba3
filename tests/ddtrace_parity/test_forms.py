"""Code written for ddtrace.llmobs runs unchanged on the forms built so far: LLMObs.enabled as a
bool, agent_service, request_headers=, and ddtrace's submit_evaluation; llmobs's former forms
keep working beside them."""

from __future__ import annotations

import pytest

from llmobs_core import LLMObs
from llmobs_core.decorators import task
from llmobs_core.testing import capture


def test_enabled_reads_as_a_bool_and_still_calls() -> None:
    """`if LLMObs.enabled:` follows enable()/disable(); LLMObs.enabled() still answers too."""
    assert not LLMObs.enabled and LLMObs.enabled() is False and LLMObs.enabled == False  # noqa: E712
    with capture():
        assert LLMObs.enabled and LLMObs.enabled() is True and LLMObs.enabled == True  # noqa: E712
    assert not LLMObs.enabled


def _apps(events: list[dict]) -> dict[str, str]:
    return {e["name"]: next(t[7:] for t in e["tags"] if t.startswith("ml_app:")) for e in events}


def test_agent_service_names_the_ml_app_everywhere_and_wins_over_ml_app() -> None:
    """agent_service works on span openers, trace(), decorators, enable() and evaluations."""
    @task(agent_service="deco-app")
    def decorated() -> None:
        pass

    with capture(agent_service="enabled-app") as captured:
        with LLMObs.workflow("root") as root:
            with LLMObs.llm(name="call", agent_service="llm-app", ml_app="ignored"):
                pass
            with LLMObs.trace("tool", "traced", agent_service="trace-app"):
                pass
            decorated()
        LLMObs.submit_evaluation("quality", "score", 1, span=LLMObs.export_span(root),
                                 agent_service="eval-app")
        spans, (metric,) = captured.spans, captured.evaluations
    assert _apps(spans) == {"root": "enabled-app", "call": "llm-app", "traced": "trace-app",
                            "decorated": "deco-app"}
    assert metric["ml_app"] == "eval-app"


def test_request_headers_is_the_keyword_of_both_header_calls() -> None:
    """inject_distributed_headers(request_headers=) and activate_distributed_headers(
    request_headers=) carry a trace across; headers= still works."""
    with capture() as captured:
        with LLMObs.workflow("upstream"):
            outgoing = LLMObs.inject_distributed_headers(request_headers={})
            assert LLMObs.inject_distributed_headers(headers={}) == outgoing
        with LLMObs.activate_distributed_headers(request_headers=outgoing), \
                LLMObs.task("downstream"):
            pass
    upstream, downstream = captured.spans
    assert downstream["trace_id"] == upstream["trace_id"]
    assert downstream["parent_id"] == upstream["span_id"]


def test_submit_evaluation_takes_ddtraces_arguments_and_the_former_order() -> None:
    """ddtrace's (label, metric_type, value, span=..., metadata=, eval_scope=) and the former
    (span_context, label=...) both send the evaluation; eval_scope is on the wire."""
    with capture() as captured:
        with LLMObs.workflow("w") as span:
            pass
        exported = LLMObs.export_span(span)
        LLMObs.submit_evaluation("done", "boolean", True, span=exported, eval_scope="trace",
                                 metadata={"judge": "rules"})
        LLMObs.submit_evaluation(exported, label="former", metric_type="score", value=0.5)
        LLMObs.submit_evaluation(label="node", metric_type="categorical", value="ok",
                                 span_context=exported)
        done, former, node = captured.evaluations
    join = {"span": exported}
    assert (done["join_on"], done["eval_scope"], done["metadata"]) == (
        join, "trace", {"judge": "rules"})
    assert (former["join_on"], former["score_value"], former["eval_scope"]) == (join, 0.5, "span")
    assert node["join_on"] == join and "metadata" not in node


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"eval_scope": "session"}, "eval_scope 'session' must be 'span' or 'trace'"),
    ({"span_context": {"span_id": "1", "trace_id": "2"}}, "not both"),
    ({"metadata": ["not", "a", "dict"]}, "metadata must be a dict"),
])
def test_submit_evaluation_refuses_ddtrace_arguments_used_wrongly(kwargs, message) -> None:
    """A bad eval_scope, both span and span_context, or metadata that is not a dict raise."""
    with capture():
        with pytest.raises((ValueError, TypeError), match=message):
            LLMObs.submit_evaluation("x", "score", 1, span={"span_id": "1", "trace_id": "2"},
                                     **kwargs)
