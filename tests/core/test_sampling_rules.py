"""DD_LLMOBS_SAMPLING_RULES: ddtrace 4.x's rules, read and applied at a trace's root."""

from __future__ import annotations

import json

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import resolve
from llmobs_core.sampling_rules import glob, parse_rules
from llmobs_core.testing import capture


def test_globs_match_as_ddtraces_case_insensitively() -> None:
    """`*` is any run (empty too), `?` exactly one character, everything else literal,
    letter case ignored; the whole value must match."""
    cases = {("prod-*", "PROD-eu"): True, ("prod-*", "prod-"): True, ("prod-*", "xprod-1"): False,
             ("a?c", "abc"): True, ("a?c", "ac"): False, ("a.c", "abc"): False,
             ("*", ""): True, ("[x]", "[X]"): True, ("a*b*c", "a-b\nc"): True}
    for (pattern, value), matches in cases.items():
        assert (glob(pattern).fullmatch(value.lower()) is not None) is matches, (pattern, value)


def test_rules_are_read_as_ddtrace_reads_them() -> None:
    """Rates are clamped to 0..1 (strings that are numbers too, NaN is 0); tag values are
    written as ddtrace's str() writes them; a rule without a rate, with unknown keys, with
    tags that are not an object or that is not an object is skipped; text that is not a
    JSON list raises at enable(), naming the variable."""
    rules = parse_rules(json.dumps([
        {"sample_rate": 2, "tags": {"a": "x"}}, {"sample_rate": "0.25"}, {"sample_rate": -1},
        {"sample_rate": "nan"}, {"sample_rate": 0.5, "tags": {"flag": True}},
        {"tags": {"a": "b"}}, {"sample_rate": 1, "name": "r"}, {"sample_rate": 1, "tags": []},
        "rule", {"sample_rate": "half"}]))
    assert [rule.sample_rate for rule in rules] == [1.0, 0.25, 0.0, 0.0, 0.5]
    assert rules[4].matches({"flag": "true"}) and not rules[4].matches({"flag": "1"})
    assert rules[1].matches({}) and not rules[0].matches({})
    assert parse_rules("") == () and parse_rules(None) == ()
    for text in ("{", '{"sample_rate": 1}', "3"):
        with pytest.raises(ValueError, match="DD_LLMOBS_SAMPLING_RULES"):
            resolve({}, {"DD_LLMOBS_SAMPLING_RULES": text})


def test_the_first_matching_rule_decides_each_trace_at_its_root(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules are tried in order on the root's tags when it opens (ml_app, agent_service,
    session_id, service/env/version, DD_TAGS, annotation_context's tags); the matched rule's
    rate is the trace's (in _dd.sample_rate and the headers), children follow the root, no
    match falls back to the sample rate, and what is dropped is counted."""
    monkeypatch.setenv("DD_TAGS", "team:search")
    monkeypatch.setenv("DD_LLMOBS_SAMPLING_RULES", json.dumps([
        {"tags": {"session_id": "drop-*"}, "sample_rate": 0},
        {"tags": {"team": "search", "env": "prod"}, "sample_rate": 1},
        {"tags": {"tier": "gold"}, "sample_rate": 1},
        {"tags": {"agent_service": "other-app"}, "sample_rate": 1}]))
    with capture(sample_rate=0, ml_app="app", env="prod") as captured:
        with LLMObs.workflow(name="by-env"):
            with LLMObs.task(name="child"):
                headers = LLMObs.inject_distributed_headers({})
        with LLMObs.workflow(name="by-session", session_id="drop-1"):
            pass
        with LLMObs.annotation_context(tags={"tier": "GOLD"}):
            with LLMObs.workflow(name="by-context"):
                pass
        LLMObs.flush()
        names = {event["name"]: event for event in captured.spans}
        dropped = LLMObs.stats()["dropped"]["sampled_out"]
    assert set(names) == {"by-env", "child", "by-context"}
    assert names["child"]["_dd"]["sample_rate"] == "1"
    assert "_dd.p.llmobs_sd=1" in headers["x-datadog-tags"]
    assert dropped == 1
    monkeypatch.setenv("DD_ENV", "staging")
    with capture(sample_rate=0, ml_app="other-app") as captured:
        with LLMObs.workflow(name="by-app"):
            pass
        with LLMObs.workflow(name="no-rule", ml_app="third"):
            pass
        assert [event["name"] for event in captured.spans] == ["by-app"]
