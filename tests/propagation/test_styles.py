"""DD_TRACE_PROPAGATION_STYLE, _INJECT and _EXTRACT: parsed once at enable(), then the header
formats written by inject and read by extract."""

from __future__ import annotations

import logging

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import PROPAGATION_STYLES, propagation_styles
from llmobs_core.propagation import extract_dict, inject_dict
from llmobs_core.testing import capture

DATADOG = {"x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority",
           "x-datadog-tags"}
W3C = {"traceparent", "tracestate"}
IDS = {"trace_id": 2**100 + 12345, "span_id": 987, "apm_trace_id": 2**100 + 12345,
       "ml_app": "shop", "session_id": "s-1"}


@pytest.mark.parametrize(("env", "inject", "extract"), [
    ({}, PROPAGATION_STYLES, PROPAGATION_STYLES),
    ({"DD_TRACE_PROPAGATION_STYLE": " TraceContext , datadog"},
     ("tracecontext", "datadog"), ("tracecontext", "datadog")),
    ({"DD_TRACE_PROPAGATION_STYLE": "datadog", "DD_TRACE_PROPAGATION_STYLE_INJECT": "baggage"},
     ("baggage",), ("datadog",)),
    ({"DD_TRACE_PROPAGATION_STYLE_EXTRACT": "none"}, PROPAGATION_STYLES, ()),
    ({"DD_TRACE_PROPAGATION_STYLE": "none,datadog,datadog"}, ("datadog",), ("datadog",)),
    ({"DD_TRACE_PROPAGATION_STYLE_INJECT": " "}, PROPAGATION_STYLES, PROPAGATION_STYLES),
])
def test_the_direction_variable_beats_the_base_one(env: dict, inject: tuple,
                                                   extract: tuple) -> None:
    """_INJECT / _EXTRACT win over DD_TRACE_PROPAGATION_STYLE, which wins over the default;
    names are case-insensitive, "none" and repeats add nothing, an empty value is unset."""
    assert propagation_styles(env, "INJECT") == inject
    assert propagation_styles(env, "EXTRACT") == extract


def test_b3_and_unknown_styles_are_skipped_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    """b3 and b3multi, which llmobs does not write or read, and unknown names are left out,
    each with a warning naming the variable."""
    with caplog.at_level(logging.WARNING, logger="llmobs"):
        styles = propagation_styles(
            {"DD_TRACE_PROPAGATION_STYLE_INJECT": "b3multi,datadog,b3,jaeger"}, "INJECT")
    assert styles == ("datadog",)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3 and all("DD_TRACE_PROPAGATION_STYLE_INJECT" in m for m in warned)
    assert "not supported" in warned[0] and "unknown" in warned[2]


@pytest.mark.parametrize(("styles", "names"), [
    (("datadog",), DATADOG),
    (("tracecontext",), W3C),
    (("baggage",), {"baggage"}),
    (("datadog", "baggage"), DATADOG | {"baggage"}),
    ((), set()),
])
def test_inject_writes_only_the_chosen_formats(styles: tuple, names: set) -> None:
    """Each style writes its own headers and no other; no style writes nothing."""
    assert set(inject_dict({}, **IDS, styles=styles)) == names


def test_extract_reads_only_the_chosen_formats() -> None:
    """With datadog only, W3C headers alone give no context; with tracecontext only, Datadog
    headers are ignored; without baggage, ml_app and session are not taken from it."""
    w3c_only = inject_dict({}, **IDS, styles=("tracecontext",))
    assert extract_dict(w3c_only, ("datadog",)) is None
    assert extract_dict(w3c_only, ("tracecontext",)) is not None
    dd_only = inject_dict({}, **IDS, styles=("datadog",))
    assert extract_dict(dd_only, ("tracecontext", "baggage")) is None
    bare = {**inject_dict({}, **{**IDS, "ml_app": None, "session_id": None},
                          styles=("datadog",)), "baggage": "ml_app=from-baggage"}
    with_baggage, without = extract_dict(bare), extract_dict(bare, ("datadog",))
    assert with_baggage is not None and with_baggage.ml_app == "from-baggage"
    assert without is not None and without.ml_app is None


def test_the_first_style_wins_when_the_trace_ids_disagree() -> None:
    """Datadog and W3C headers naming different traces: the style listed first gives the
    context, as in ddtrace."""
    headers = {**inject_dict({}, **IDS, styles=("datadog",)),
               "traceparent": "00-0000000000000000000000000000abcd-00000000000000ff-01"}
    datadog_first = extract_dict(headers, ("datadog", "tracecontext"))
    w3c_first = extract_dict(headers, ("tracecontext", "datadog"))
    assert datadog_first is not None and datadog_first.apm_trace_id == IDS["apm_trace_id"]
    assert w3c_first is not None and w3c_first.apm_trace_id == 0xABCD


def test_the_public_calls_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With _INJECT=tracecontext and _EXTRACT=datadog, inject_distributed_headers writes W3C
    only, and activate_distributed_headers cannot read those back (as ddtrace); with
    _INJECT=none nothing is written."""
    monkeypatch.setenv("DD_TRACE_PROPAGATION_STYLE_INJECT", "tracecontext")
    monkeypatch.setenv("DD_TRACE_PROPAGATION_STYLE_EXTRACT", "datadog")
    with capture() as captured:
        with LLMObs.workflow("caller"):
            headers = LLMObs.inject_distributed_headers({})
        with LLMObs.activate_distributed_headers(headers) as context:
            assert context is None
        assert len(captured.spans) == 1
    assert set(headers) == W3C and "t.llmobs_sd:1" in headers["tracestate"]
    monkeypatch.setenv("DD_TRACE_PROPAGATION_STYLE_INJECT", "none")
    with capture():
        with LLMObs.workflow("caller"):
            assert LLMObs.inject_distributed_headers({"keep": "me"}) == {"keep": "me"}
