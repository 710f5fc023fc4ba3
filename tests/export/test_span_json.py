"""The Datadog sink's bodies, now encoded straight from the span records (_span_json.py), are
byte for byte the bodies the previous implementation made from built events
(tests/support/datadog_reference.py), and leave out and cut down the same events: on
hypothesis-drawn records with hostile values in every field, on events over the size limit,
and on batches split across bodies."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.export import _datadog_payload as payload
from llmobs_core.export.base import SpanEvents
from llmobs_core.span_events import EventBuilder
from tests.support import datadog_reference as reference
from tests.support import events_reference
from tests.support.records import FLAT_FIELDS, plain_records, record_from_flat, record_of, records


def _bodies_three_ways(batch: list[tuple[Any, ...]], static_tags: list[str]
                       ) -> list[tuple[list[tuple[bytes, list[int]]], list[int], int]]:
    """The bodies, left-out indexes and truncated count: from the records (the writer's
    SpanEvents), from built events, and by the previous implementation (its builder and its
    encoder)."""
    build = EventBuilder(static_tags).build
    previous_build = events_reference.EventBuilder(static_tags).build
    results = []
    # A build that is not EventBuilder.build itself makes the sink encode built events.
    for module, events in ((payload, SpanEvents(batch, build)),
                           (payload, SpanEvents(batch, lambda record: build(record))),
                           (reference, SpanEvents(batch, previous_build))):
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
    batch = [record_of(f) for f in fields]
    from_records, from_events, expected = _bodies_three_ways(batch, static_tags)
    assert from_records == expected
    assert from_events == expected


# Two traces and three span ids, so that spans share a trace, a parent or an id: what the
# encoder keeps and reuses between the spans of a batch (a trace's texts, its parent's id).
_TRACES = ((1 << 127) + 5, 12345)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.one_of(plain_records, plain_records, records),
                          st.sampled_from(_TRACES), st.integers(1, 3),
                          st.one_of(st.none(), st.integers(1, 3)), st.booleans()),
                min_size=2, max_size=6))
def test_spans_of_shared_traces_are_the_reference_bodies(drawn: list[Any]) -> None:
    """Plain spans (the encoder's fast paths) and hostile ones, that share traces: siblings, a
    root after its children, a span whose id another span has as its parent. Each gives the
    bytes the previous implementation gave for its built event."""
    batch = [record_of({**fields, "trace_id": trace, "span_id": span, "parent_id": parent,
                        "apm_trace_id": None if same_apm else fields["apm_trace_id"]})
             for fields, trace, span, parent, same_apm in drawn]
    from_records, from_events, expected = _bodies_three_ways(batch, ["env:prod"])
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
    return record_from_flat([fields[name] for name in FLAT_FIELDS])


def test_events_over_the_size_limit_are_cut_down_alike() -> None:
    """An event of 5,000,000 bytes or more is sent cut down, whichever way it was encoded;
    one still too big without its input and output keeps only what identifies it."""
    huge = "x" * payload.MAX_EVENT_BYTES
    batch = [_plain_record(kind="task", input=huge), _plain_record(metadata={"m": huge}),
             _plain_record(error=("E", huge, huge)), _plain_record()]
    from_records, from_events, expected = _bodies_three_ways(batch, [])
    assert expected[2] == 3
    assert from_records == expected and from_events == expected
    bodies = b"".join(body for body, _ in expected[0])
    assert b'"cost_total"' in bodies and b'"cost.total"' not in bodies  # the intake refuses "."


def test_batches_split_across_bodies_alike() -> None:
    """Bodies are cut at the same events (at most 5 MiB each) from records as from events."""
    batch = [_plain_record(kind="tool", output="y" * 1_500_000, span_id=i + 1) for i in range(8)]
    from_records, from_events, expected = _bodies_three_ways(batch, ["env:prod"])
    assert len(expected[0]) > 1
    assert all(len(body) <= payload.MAX_BODY_BYTES for body, _ in expected[0])
    assert from_records == expected and from_events == expected


def test_annotated_llm_spans_and_their_workflows_alike() -> None:
    """The README's unit, a workflow and its annotated llm child, twice in a trace and once in
    another, with the provider as a user spells it: the encoder's common path (the llm meta in
    one dict, the workflow's kept meta, a trace's and its parent's texts reused) gives the
    reference bytes."""
    messages = ({"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"})
    answer = ({"role": "assistant", "content": "Hello."},)
    llm = {"input": messages, "output": answer, "metadata": {"temperature": 0.2, "top_p": 1.0},
           "model_provider": "OpenAI", "tags": None, "sample_rate": 1.0, "session_id": None,
           "metrics": {"input_tokens": 21, "output_tokens": 2}}
    workflow = {"kind": "workflow", "name": "answer", "input": None, "output": None,
                "metadata": None, "metrics": None, "tags": None, "model_name": None,
                "model_provider": None, "sample_rate": 1.0, "parent_id": None}
    batch = [_plain_record(**llm, span_id=2, parent_id=1),
             _plain_record(**{**llm, "model_provider": "Anthropic"}, span_id=3, parent_id=1),
             _plain_record(**workflow, span_id=1),
             _plain_record(**llm, span_id=5, parent_id=4, trace_id=77, apm_trace_id=77),
             _plain_record(**workflow, span_id=4, trace_id=77, apm_trace_id=77)]
    from_records, from_events, expected = _bodies_three_ways(batch, ["env:prod"])
    assert b'"model_provider":"openai"' in expected[0][0][0]
    assert from_records == expected and from_events == expected
