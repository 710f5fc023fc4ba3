"""DD_LLMOBS_SAMPLING_RULES, as ddtrace 4.x reads it: a JSON list of
{"sample_rate": <0..1>, "tags": {<tag key>: <glob>}} rules, tried in order on the tags of a
trace's root span; the first rule whose every tag matches gives the trace's rate, and no match
falls back to DD_LLMOBS_SAMPLE_RATE. Globs: `*` any run of characters, `?` exactly one, no
escapes, case-insensitive; a rule with no tags matches every trace.

ddtrace decides as late as it can (when the root finishes, or sooner when the trace's context
leaves for another thread or service), so tags annotated on the root count; llmobs decides
when the root opens, from the tags it has then (docs/migrating-from-ddtrace.md).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ._log import warn_limited

MAX_RULES = 1000


class SamplingRule:
    __slots__ = ("sample_rate", "tags")

    def __init__(self, sample_rate: float, tags: Mapping[str, re.Pattern[str]]) -> None:
        self.sample_rate = sample_rate
        self.tags = tags

    def matches(self, tags: Mapping[str, str]) -> bool:
        for key, pattern in self.tags.items():
            value = tags.get(key)
            if value is None or pattern.fullmatch(value.lower()) is None:
                return False
        return True

    def __repr__(self) -> str:
        globs = {key: pattern.pattern for key, pattern in self.tags.items()}
        return f"SamplingRule(sample_rate={self.sample_rate}, tags={globs})"


def glob(pattern: str) -> re.Pattern[str]:
    """ddtrace's glob (GlobMatcher) as a regular expression over lowercased text."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.compile("".join(parts), re.DOTALL)


def parse_rules(text: str | None) -> tuple[SamplingRule, ...]:
    """The rules of DD_LLMOBS_SAMPLING_RULES. Text that is not a JSON list raises ValueError,
    as any other bad setting does at enable(); a single bad rule is skipped with a warning,
    as ddtrace skips it."""
    if text is None or not text.strip():
        return ()
    try:
        rules = json.loads(text)
    except ValueError:
        raise ValueError(f"DD_LLMOBS_SAMPLING_RULES={text[:200]!r} is not JSON") from None
    if type(rules) is not list:
        raise ValueError("DD_LLMOBS_SAMPLING_RULES must be a JSON list of "
                         '{"sample_rate": ..., "tags": {...}} objects')
    parsed = [rule for rule in map(_rule, rules[:MAX_RULES]) if rule is not None]
    return tuple(parsed)


def _rule(rule: Any) -> SamplingRule | None:
    problem = None
    if type(rule) is not dict:
        problem = "a rule must be a JSON object"
    elif "sample_rate" not in rule:
        problem = "no sample_rate"
    elif rule.keys() - {"sample_rate", "tags"}:
        problem = f"unknown keys {sorted(rule.keys() - {'sample_rate', 'tags'})}"
    elif type(rule.get("tags", {})) is not dict:
        problem = "tags must be a JSON object"
    else:
        rate = _rate(rule["sample_rate"])
        if rate is None:
            problem = "sample_rate must be a number"
        else:
            tags = rule.get("tags") or {}
            # str() as ddtrace reads a glob: True is "True", 1.5 is "1.5"
            return SamplingRule(rate, {str(k): glob(str(v)) for k, v in tags.items()})
    warn_limited("sampling_rules", "llmobs: DD_LLMOBS_SAMPLING_RULES: rule %.200r skipped: %s",
                 rule, problem)
    return None


def _rate(value: Any) -> float | None:
    """As ddtrace reads it: anything float() takes, clamped to [0, 1] (NaN is 0)."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        return None
    return 0.0 if math.isnan(rate) else min(1.0, max(0.0, rate))


def root_tags(span: Any, static_tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a rule is matched against, for a root span that just opened: ddtrace's
    initial tags (service, env and version, empty when unset; source, language, ddtrace's
    version left out), ml_app, agent_service, session_id, and the span's own tags so far
    (annotation_context's)."""
    tags = dict(static_tags)
    tags["ml_app"] = tags["agent_service"] = span.ml_app
    if span.session_id:
        tags["session_id"] = span.session_id
    if span.tags:
        tags.update((str(k), str(v)) for k, v in span.tags.items())
    return tags


def first_match(rules: tuple[SamplingRule, ...], tags: Mapping[str, str]) -> SamplingRule | None:
    for rule in rules:
        if rule.matches(tags):
            return rule
    return None
