"""Sampling, compared as test_behaviour.py compares the rest: scenario.py's run_sampling() runs
on ddtrace 4.x and on llmobs with DD_LLMOBS_SAMPLE_RATE=0 and DD_LLMOBS_SAMPLING_RULES, once
as is and once with enable(sample_rate=1) over them. For each span and evaluation: whether it
was sent, and if both sent it, every field (the span's _dd.sample_rate and
_dd.sampling_decision included). Every difference is listed with its reason, exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ddtrace_parity.test_behaviour import _metrics, _run, _spans

pytest.importorskip("ddtrace.llmobs")

ENV = {"DD_LLMOBS_SAMPLE_RATE": "0", "DD_LLMOBS_SAMPLING_RULES": json.dumps([
    {"tags": {"session_id": "keep-*"}, "sample_rate": 1},
    {"tags": {"tier": "GOLD"}, "sample_rate": 1.0},
    {"sample_rate": "nope"},  # skipped, with a warning, by both
])}
SENT, MARKED, NOT_SENT = "sent", "sent marked sampling_decision 0", "not sent"

CLIENT_SIDE = ("ddtrace sends a sampled-out span marked _dd.sampling_decision 0 for the intake "
               "to drop; llmobs drops it before encoding it (its local store and OTLP sinks have "
               "no intake to drop it), counted as sampled_out")
DIFFERENCES: dict[str, dict[tuple[str, str], str]] = {
    "sampling-env": {
        ("dropped-root", "delivery"): CLIENT_SIDE,
        ("dropped-child", "delivery"): CLIENT_SIDE,
        ("remote-dropped", "delivery"): CLIENT_SIDE + "; the decision came in the headers",
        ("evaluation:on_dropped", "delivery"): "an evaluation joined to a span of a trace "
                                               "sampled out here is dropped and counted; "
                                               "ddtrace sends it",
        ("late-tag", "delivery"): "ddtrace matches the rules on the root's tags when the root "
                                  "finishes (or its context first leaves), so a tag annotated "
                                  "on the root counts; llmobs decides when the root opens, "
                                  "from the tags it has then (annotation_context's count): "
                                  "deciding later would mean holding every finished child",
    },
    "sampling-argument": {},
}


def _outcomes(flat: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {name: (MARKED, {}) if fields.get("sampling.sampling_decision") == "0"
            else (SENT, fields) for name, fields in flat.items()}


def _compare(theirs: dict[str, dict[str, Any]], ours: dict[str, dict[str, Any]]
             ) -> dict[tuple[str, str], tuple[Any, Any]]:
    a, b = _outcomes(theirs), _outcomes(ours)
    found = {}
    for name in a.keys() | b.keys():
        (sent_a, fields_a), (sent_b, fields_b) = a.get(name, (NOT_SENT, {})), b.get(
            name, (NOT_SENT, {}))
        if sent_a != sent_b:
            found[(name, "delivery")] = (sent_a, sent_b)
            continue
        for path in fields_a.keys() | fields_b.keys():
            if fields_a.get(path) != fields_b.get(path):
                found[(name, path)] = (fields_a.get(path), fields_b.get(path))
    return found


@pytest.mark.parametrize("mode", sorted(DIFFERENCES))
def test_what_sampling_keeps_and_drops_matches_ddtrace(mode: str) -> None:
    """Rate 0 from the environment with rules that keep some traces (a session glob, a tag
    from annotation_context in another letter case), decisions carried by headers both ways,
    a decision received from upstream with its rate, evaluations on a kept and a dropped
    span, feedback on a dropped span (sent by both: end users' feedback is kept); then
    enable(sample_rate=1), which beats the environment's rate. Same outcome as ddtrace, but
    for the differences listed."""
    dd_spans, dd_metrics = _run("ddtrace", mode, ENV)
    spans, metrics = _run("llmobs", mode, ENV)
    found = {**_compare(_spans(dd_spans, sampling=True), _spans(spans, sampling=True)),
             **_compare(_metrics(dd_metrics), _metrics(metrics))}
    listed = DIFFERENCES[mode]
    unexplained = {key: value for key, value in found.items() if key not in listed}
    assert not unexplained, "differences not listed: " + "\n".join(
        f"{k}: ddtrace={v[0]!r} llmobs={v[1]!r}" for k, v in sorted(unexplained.items()))
    assert set(found) == set(listed), "listed differences that no longer occur"
    kept = {event["name"] for event in spans}
    expected = {"kept-by-session", "kept-child", "kept-by-context", "remote-kept",
                "remote-decided"}
    if mode == "sampling-argument":
        expected |= {"dropped-root", "dropped-child", "late-tag", "remote-dropped"}
    assert kept == expected
