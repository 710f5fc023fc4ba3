"""The OTLP sink maps the writer's records straight to what it sends (otlp.record_span_data),
without building their events: on hypothesis-drawn records with hostile values in every
field, each record gives the request body its event gives (built as before records were
read, tests/support/events_reference.py), or fails as it does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs_core.export.base import SpanEvents
from llmobs_core.export.otlp import OTLPSink, span_data, span_datas
from llmobs_core.span_events import EventBuilder
from tests.support import events_reference
from tests.support.records import record_of, records


@pytest.fixture(scope="module")
def sink():
    made = OTLPSink("http://127.0.0.1:9/v1/traces", service="svc")
    yield made
    made.shutdown()


def _outcome(encode: Any, *args: Any) -> Any:
    try:
        return encode(*args)
    except Exception as exc:  # the failure itself is what is compared
        return type(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(records, min_size=1, max_size=4), st.lists(st.text(max_size=8), max_size=2))
def test_records_give_the_bodies_of_their_built_events(sink, fields, static_tags) -> None:
    """One record at a time and as a batch: the same body from the record as from its built
    event (the previous path), or the same exception."""
    batch = [record_of(f) for f in fields]
    build = EventBuilder(static_tags).build
    previous_build = events_reference.EventBuilder(static_tags).build

    def from_events(records: list[Any]) -> bytes:  # as built before records were read
        return sink.encode([span_data(previous_build(record)) for record in records])

    def from_records(records: list[Any]) -> bytes:
        return sink.encode(span_datas(SpanEvents(records, build)))

    for record in batch:
        assert _outcome(from_records, [record]) == _outcome(from_events, [record])
    assert _outcome(from_records, batch) == _outcome(from_events, batch)
