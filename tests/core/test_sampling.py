"""Trace sampling in one process: the decision at the root, inheritance, a propagated decision,
what is dropped and counted, and the settings that choose the rate."""

from __future__ import annotations

import math

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.propagation import extract_dict
from llmobs_core.sampling import KNUTH_FACTOR, format_rate, keeps, parse_decision, parse_rate
from llmobs_core.testing import capture

MAX_64 = 2**64 - 1


def test_keeps_is_datadogs_knuth_hash_of_the_low_64_bits() -> None:
    """A trace is kept exactly when (low 64 bits * 1111111111111111111) mod 2**64 is at most
    rate * (2**64 - 1); rate 1 keeps all and 0 none, whatever the id."""
    for trace_id in (1, 12345, MAX_64, 0x6B01347200000000DC6C3BC238B9A864, 2**100 + 7):
        hashed = (trace_id & MAX_64) * KNUTH_FACTOR % 2**64
        for rate in (0.1, 0.25, 0.5, 0.9):
            assert keeps(trace_id, rate) is (hashed <= rate * MAX_64)
        assert keeps(trace_id, 1.0) and not keeps(trace_id, 0.0)
    kept = sum(keeps(n * 0x9E3779B97F4A7C15, 0.3) for n in range(1, 20001))
    assert 5400 < kept < 6600


def test_rates_and_decisions_read_and_write_as_datadogs_tracers_do() -> None:
    """Rates are written with at most 6 decimals and no trailing zeros; only well-formed
    rates from 0 to 1 and the decisions "0"/"1" are read."""
    assert [format_rate(r) for r in (1.0, 0.0, 0.25, 0.1234567, 1e-7)] == [
        "1", "0", "0.25", "0.123457", "0"]
    assert [parse_rate(t) for t in ("1", "0", "0.25", ".5", "1.0")] == [1.0, 0.0, 0.25, 0.5, 1.0]
    assert [parse_rate(t) for t in (None, "", "1.5", "-0.1", "nan", "1e-3", "0,5")] == [None] * 7
    assert [parse_decision(t) for t in ("1", "0", "2", "", None, "true")] == [
        True, False, None, None, None, None]


@pytest.mark.parametrize(("value", "error"), [
    (1.5, ValueError), (-0.1, ValueError), (math.nan, ValueError), ("half", ValueError),
    (True, TypeError), ([0.5], TypeError)])
def test_an_invalid_sample_rate_is_refused_at_enable(value: object, error: type) -> None:
    """enable(sample_rate=...) outside 0..1, not a number, or a bool raises, naming the
    setting."""
    with pytest.raises(error, match="sample_rate"):
        LLMObs.enable(sample_rate=value, exporter=[])
    assert not LLMObs.enabled


def test_the_rate_comes_from_the_argument_then_the_environment() -> None:
    """sample_rate= beats DD_LLMOBS_SAMPLE_RATE, which beats the default 1; a malformed
    variable raises naming it."""
    assert resolve({}, {}).sample_rate == 1.0
    assert resolve({}, {"DD_LLMOBS_SAMPLE_RATE": "0.25"}).sample_rate == 0.25
    assert resolve({"sample_rate": 0}, {"DD_LLMOBS_SAMPLE_RATE": "0.25"}).sample_rate == 0.0
    with pytest.raises(ValueError, match="DD_LLMOBS_SAMPLE_RATE"):
        resolve({}, {"DD_LLMOBS_SAMPLE_RATE": "2"})


def test_rate_zero_drops_every_span_and_counts_them() -> None:
    """At rate 0 nothing is exported; the spans and the evaluations joined to them are counted
    as dropped "sampled_out", and enqueued still equals sent + dropped + pending."""
    with capture(sample_rate=0) as captured:
        for _ in range(5):
            with LLMObs.workflow("root"):
                with LLMObs.llm(name="call") as call:
                    joined = LLMObs.export_span(call)
            LLMObs.submit_evaluation("quality", "score", 0.5, span=joined)
        assert captured.spans == [] and captured.evaluations == []
        stats = LLMObs.stats()
    assert stats["dropped"]["sampled_out"] == 15
    assert stats["sent"] == 0 and stats["pending"] == 0 and stats["enqueued"] == 15


def test_each_trace_is_kept_or_dropped_whole_by_the_hash_of_its_root() -> None:
    """At rate 0.5 every trace of 200 is all there or all gone, children inherit the root's
    decision, the kept ones match the hash of their trace id and carry _dd.sample_rate."""
    with capture(sample_rate=0.5) as captured:
        roots = []
        for _ in range(200):
            with LLMObs.workflow("root") as root:
                with LLMObs.agent("agent"), LLMObs.tool("tool"):
                    pass
            roots.append(root.trace_id)
        spans = captured.spans
        dropped = LLMObs.stats()["dropped"]["sampled_out"]
    by_trace: dict[str, list[dict]] = {}
    for span in spans:
        by_trace.setdefault(span["trace_id"], []).append(span)
    expected = {f"{t:032x}" for t in roots if keeps(t, 0.5)}
    assert set(by_trace) == expected and 60 < len(expected) < 140
    assert all(len(trace) == 3 for trace in by_trace.values())
    assert dropped == 3 * (200 - len(expected))
    assert {(s["_dd"]["sample_rate"], s["_dd"]["sampling_decision"]) for s in spans} == {
        ("0.5", "1")}


def test_a_dropped_span_still_parents_what_runs_under_it() -> None:
    """Inside a sampled-out span, children are dropped too, headers carry its ids with
    _dd.p.llmobs_sd=0, and after it ends the previous parent is active again."""
    with capture(sample_rate=1) as captured:
        with LLMObs.workflow("kept") as kept:
            remote = {"x-datadog-trace-id": "77", "x-datadog-parent-id": "5",
                      "x-datadog-tags": "_dd.p.llmobs_parent_id=5,_dd.p.llmobs_sd=0"}
            with LLMObs.activate_distributed_headers(remote):
                with LLMObs.task("remote-dropped") as dropped:
                    with LLMObs.tool("child") as child:
                        headers = LLMObs.inject_distributed_headers({})
            assert LLMObs.current_span() is kept
            with LLMObs.tool("kept-child"):
                pass
        names = sorted(span["name"] for span in captured.spans)
    assert child.parent_id == dropped.span_id and not child.sampled
    assert names == ["kept", "kept-child"]
    assert f"_dd.p.llmobs_parent_id={child.span_id}" in headers["x-datadog-tags"]
    assert "_dd.p.llmobs_sd=0" in headers["x-datadog-tags"]
    assert "t.llmobs_sd:0" in headers["tracestate"]


@pytest.mark.parametrize(("local", "incoming", "kept", "rate"), [
    (1.0, "_dd.p.llmobs_sr=0.25,_dd.p.llmobs_sd=0", False, None),
    (0.0, "_dd.p.llmobs_sr=0.25,_dd.p.llmobs_sd=1", True, "0.25"),
    (0.0, "_dd.p.llmobs_sd=1", True, "0"),
    (0.0, "_dd.p.llmobs_sd=maybe", False, None),
])
def test_a_propagated_decision_beats_the_local_rate(local: float, incoming: str, kept: bool,
                                                    rate: str | None) -> None:
    """A span continued from headers takes _dd.p.llmobs_sd over the local rate (and
    _dd.p.llmobs_sr as its rate, else the local one); a malformed decision is no decision."""
    headers = {"x-datadog-trace-id": "123456789", "x-datadog-parent-id": "42",
               "x-datadog-tags": "_dd.p.llmobs_parent_id=42," + incoming}
    with capture(sample_rate=local) as captured:
        with LLMObs.activate_distributed_headers(headers):
            with LLMObs.workflow("continued"):
                with LLMObs.llm(name="inner"):
                    pass
        spans = captured.spans
    assert len(spans) == (2 if kept else 0)
    if kept:
        assert {s["_dd"]["sample_rate"] for s in spans} == {rate}


def test_evaluations_on_kept_spans_and_by_tag_are_sent() -> None:
    """Only evaluations joined to a sampled-out trace are dropped: one on a kept span, and one
    joined by tag (which no trace decision covers), are sent."""
    with capture(sample_rate=1) as captured:
        with LLMObs.workflow("kept") as kept:
            pass
        with LLMObs.activate_distributed_headers(
                {"x-datadog-trace-id": "9", "x-datadog-parent-id": "8",
                 "x-datadog-tags": "_dd.p.llmobs_parent_id=8,_dd.p.llmobs_sd=0"}):
            with LLMObs.workflow("dropped") as dropped:
                pass
        LLMObs.submit_evaluation("a", "score", 1, span=LLMObs.export_span(kept))
        LLMObs.submit_evaluation("b", "score", 1, span=LLMObs.export_span(dropped))
        LLMObs.submit_evaluation("c", "score", 1,
                                 span_with_tag_value={"tag_key": "k", "tag_value": "v"})
        labels = sorted(e["label"] for e in captured.evaluations)
        assert LLMObs.stats()["dropped"]["sampled_out"] == 2  # the span and its evaluation
    assert labels == ["a", "c"]


def test_sampling_keys_are_read_from_tracestate_alone() -> None:
    """A W3C-only caller's t.llmobs_sr / t.llmobs_sd are read as the Datadog keys are."""
    context = extract_dict({
        "traceparent": "00-0000000000000000000000000000abcd-00000000000000ff-01",
        "tracestate": "dd=s:1;p:00000000000000ff;t.llmobs_parent_id:255;t.llmobs_sr:0.5;"
                      "t.llmobs_sd:0"})
    assert context is not None
    assert (context.sample_rate, context.sampled) == (0.5, False)
