"""Any value for the calls that are not span-opening: submit_evaluation() and enable() raise
only their documented ValueError or TypeError; export_span(), flush(), the distributed-header
calls never raise; and the valid spans and evaluations of the same batch reach every sink."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs_core import LLMObs
from llmobs_core.config import ml_app_problem
from tests.faults.targets import FAULT_SETTINGS, Target, probed
from tests.support.hostile import made, values


def _sometimes(valid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), values)


evaluation_arguments = st.fixed_dictionaries({
    "label": _sometimes("quality"), "metric_type": st.sampled_from(
        ["score", "categorical", "boolean", "json", "SCORE"]) | values,
    "value": st.one_of(st.floats(), st.integers(), st.text(), st.booleans(),
                       st.dictionaries(st.text(), st.integers()), values),
}, optional={"tags": _sometimes({"k": "v"}), "ml_app": _sometimes("evals"),
             "timestamp_ms": st.one_of(st.integers(), values), "assessment": _sometimes("pass"),
             "reasoning": _sometimes("because"),
             "span_with_tag_value": _sometimes({"tag_key": "k", "tag_value": "v"})})


def test_submit_evaluation_raises_only_value_or_type_errors(target: Target) -> None:
    """submit_evaluation() accepts an evaluation it can always store and send, or refuses it
    with ValueError or TypeError; the valid evaluations of the same batch arrive."""

    @FAULT_SETTINGS
    @given(evaluation_arguments, st.booleans())
    def check(arguments: dict[str, Any], on_span: bool) -> None:
        arguments = made(arguments)
        with probed(target, evaluations=True):
            with LLMObs.task("judged") as span:
                pass
            if on_span and "span_with_tag_value" not in arguments:
                arguments["span_context"] = LLMObs.export_span(span)
            try:
                LLMObs.submit_evaluation(**arguments)
            except (ValueError, TypeError):
                pass

    check()


def test_export_span_and_flush_take_any_value(target: Target) -> None:
    """export_span() of anything gives ids or None; flush() with a timeout that is not a
    number raises TypeError or ValueError, else returns whether it finished."""

    @FAULT_SETTINGS
    @given(values, values)
    def check(span: Any, timeout: Any) -> None:
        span, timeout = made(span), made(timeout)
        with probed(target):
            assert LLMObs.export_span(span) is None
            try:
                assert LLMObs.flush(timeout) in (True, False)
            except (ValueError, TypeError):
                pass

    check()


HEADER_NAMES = ("x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
                "x-datadog-tags", "traceparent", "tracestate", "baggage", "other")
headers = st.one_of(
    values,
    st.dictionaries(st.sampled_from(HEADER_NAMES), st.one_of(st.text(), st.binary(), values)),
    st.builds(lambda app, sid: {
        "x-datadog-trace-id": "123", "x-datadog-parent-id": "456",
        "x-datadog-tags": f"_dd.p.llmobs_parent_id=456,_dd.p.llmobs_ml_app={app}",
        "baggage": f"ml_app={app},session.id={sid}"}, st.text(), st.text()),
)


def test_distributed_headers_of_any_shape(target: Target) -> None:
    """inject_distributed_headers() and activate_distributed_headers() take anything; a span
    continued from headers gets a valid ml_app, whatever the caller sent."""

    @FAULT_SETTINGS
    @given(headers, values)
    def check(incoming: Any, span: Any) -> None:
        incoming, span = made(incoming), made(span)
        with probed(target):
            with LLMObs.activate_distributed_headers(incoming), LLMObs.agent("continued") as s:
                assert ml_app_problem(s.ml_app) is None
                LLMObs.inject_distributed_headers(incoming, span)
                LLMObs.inject_distributed_headers({}, span)

    check()


enable_arguments = st.fixed_dictionaries({}, optional={name: values for name in (
    "ml_app", "service", "env", "version", "agentless_enabled", "site", "api_key", "tags",
    "shutdown_timeout", "instrumented_proxy_urls", "override_origin", "agent_url",
    "otlp_endpoint", "otlp_headers", "span_processor")})


@FAULT_SETTINGS
@given(enable_arguments)
def test_enable_raises_only_value_or_type_errors(arguments: dict[str, Any]) -> None:
    """enable() with any value for any setting enables, or raises ValueError or TypeError."""
    arguments = made(arguments)
    arguments.setdefault("exporter", "memory")
    try:
        LLMObs.enable(**arguments)
    except (ValueError, TypeError):
        assert LLMObs.current_span() is None
    else:
        with LLMObs.task("after enable"):
            pass
        assert LLMObs.flush(5)
    finally:
        LLMObs.disable()


@pytest.mark.parametrize("exporter", [object(), [None], 42, "nope"])
def test_enable_refuses_what_is_not_an_exporter(exporter: Any) -> None:
    """An exporter that is neither a sink name nor a Sink raises at enable()."""
    with pytest.raises((ValueError, TypeError)):
        LLMObs.enable(exporter=exporter)
