"""The Datadog sink's bodies, now encoded straight from the span records (_span_json.py), are
byte for byte the bodies the previous implementation made from built events
(tests/support/datadog_reference.py), and leave out and cut down the same events: on
hypothesis-drawn records with hostile values in every field, on events over the size limit,
and on batches split across bodies."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.export import _datadog_payload as payload
from llmobs_core.export.base import SpanEvents
from llmobs_core.export.events import EventBuilder
from llmobs_core.span import RECORD_FIELDS
from tests.support import datadog_reference as reference
from tests.support.hostile import made, values

KINDS = ("llm", "embedding", "retrieval", "workflow", "agent", "tool", "task")
# An iterator would be used up by the first encoding: the record is encoded three times.
anything = values.filter(lambda recipe: "iterator" not in repr(recipe))
texts = st.one_of(st.text(max_size=12), st.sampled_from(["ml.app", "é ✓ 漢", "lone \ud800"]))
ids = st.one_of(st.integers(1, (1 << 64) - 1), st.sampled_from([1, (1 << 64) - 1, 1 << 64]))
trace_ids = st.one_of(st.integers(0, (1 << 128) - 1), st.just(1 << 130))
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from([2**70, -(2**63) - 1, math.nan,
                                                                 True]))
metric_keys = st.one_of(st.text(max_size=8), st.sampled_from(["a.b", "input_tokens", "x.y.z"]),
                        st.integers(-3, 3))
messages = st.lists(st.fixed_dictionaries({"role": texts, "content": texts}), max_size=3)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


records = st.fixed_dictionaries({
    "kind": st.sampled_from(KINDS),
    "name": texts,
    "trace_id": trace_ids,
    "span_id": ids,
    "parent_id": _maybe(ids),
    "apm_trace_id": st.one_of(st.none(), trace_ids),  # None: the trace id itself
    "ml_app": texts,
    "session_id": _maybe(texts),
    "model_name": st.one_of(st.none(), texts, anything),
    "model_provider": st.one_of(st.none(), texts),
    "start_ns": numbers,
    "duration_ns": numbers,
    "error": _maybe(st.tuples(texts, texts, texts)),
    "input": st.one_of(st.none(), messages.map(tuple), messages, texts, anything),
    "output": st.one_of(st.none(), messages.map(tuple), messages, texts, anything),
    "metadata": st.one_of(st.none(), st.dictionaries(texts, numbers, max_size=3), anything),
    "metrics": st.one_of(st.none(), st.dictionaries(metric_keys, numbers, max_size=4)),
    "tags": _maybe(st.dictionaries(texts, st.one_of(texts, anything), max_size=3)),
    "tool_definitions": st.one_of(st.none(), anything),
    "sample_rate": st.one_of(st.just(1.0), st.floats(0, 1), st.just(math.nan)),
    "extras": _maybe(st.fixed_dictionaries({}, optional={"prompt": anything,
                                                         "tool": anything})),
    "pagent": _maybe(st.tuples(texts, _maybe(ids))),
})


def _record(fields: dict[str, Any]) -> tuple[Any, ...]:
    fields = made(fields)
    if fields["apm_trace_id"] is None:
        fields["apm_trace_id"] = fields["trace_id"]
    return tuple(fields[name] for name in RECORD_FIELDS)


def _bodies_three_ways(batch: list[tuple[Any, ...]], static_tags: list[str]
                       ) -> list[tuple[list[tuple[bytes, list[int]]], list[int], int]]:
    """The bodies, left-out indexes and truncated count: from the records (the writer's
    SpanEvents), from built events, and by the reference implementation."""
    build = EventBuilder(static_tags).build
    results = []
    # A build that is not EventBuilder.build itself makes the sink encode built events.
    for module, events in ((payload, SpanEvents(batch, build)),
                           (payload, SpanEvents(batch, lambda record: build(record))),
                           (reference, SpanEvents(batch, build))):
        encoding = module.Encoding()
        bodies = list(module.span_bodies(events, "1.2.3", encoding))
        results.append((bodies, encoding.left_out, encoding.truncated))
    return results


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(records, min_size=1, max_size=4),
       st.lists(st.one_of(st.text(max_size=8), st.just("env:pr\u00e9")), max_size=2))
def test_bodies_from_records_are_the_reference_bodies(fields, static_tags) -> None:
    """Hostile or not, each record gives the bytes the previous implementation gave for its
    built event (or is left out by both)."""
    batch = [_record(f) for f in fields]
    from_records, from_events, expected = _bodies_three_ways(batch, static_tags)
    assert from_records == expected
    assert from_events == expected


def _plain_record(**changes: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = dict(
        kind="llm", name="chat", trace_id=(1 << 127) + 5, span_id=7, parent_id=9,
        apm_trace_id=(1 << 127) + 5, ml_app="shop", session_id="s-1", model_name="gpt-4o",
        model_provider="OpenAI", start_ns=1_700_000_000_000_000_000, duration_ns=5,
        error=None, input=({"role": "user", "content": "hi"},), output=[{"content": "ok"}],
        metadata=None,
        metrics={"input_tokens": 3, "cost.total": 0.5}, tags={"team": "a"},
        tool_definitions=None, sample_rate=0.25, extras=None, pagent=None)
    fields.update(changes)
    return tuple(fields[name] for name in RECORD_FIELDS)


def test_events_over_the_size_limit_are_cut_down_alike() -> None:
    """An event of 5,000,000 bytes or more is sent cut down, whichever way it was encoded;
    one still too big without its input and output keeps only what identifies it."""
    huge = "x" * payload.MAX_EVENT_BYTES
    batch = [_plain_record(kind="task", input=huge), _plain_record(metadata={"m": huge}),
             _plain_record(error=("E", huge, huge)), _plain_record()]
    from_records, from_events, expected = _bodies_three_ways(batch, [])
    assert expected[2] == 3
    assert from_records == expected and from_events == expected


def test_batches_split_across_bodies_alike() -> None:
    """Bodies are cut at the same events (at most 5 MiB each) from records as from events."""
    batch = [_plain_record(kind="tool", output="y" * 1_500_000, span_id=i + 1) for i in range(8)]
    from_records, from_events, expected = _bodies_three_ways(batch, ["env:prod"])
    assert len(expected[0]) > 1
    assert all(len(body) <= payload.MAX_BODY_BYTES for body, _ in expected[0])
    assert from_records == expected and from_events == expected
