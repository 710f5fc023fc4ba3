"""A span event's JSON for the Datadog sink, written straight from the finished span's record:
byte for byte what orjson writes for EventBuilder.build(record) (tests/export/
test_span_json.py compares the two on hostile records). Building the event's fresh copies
cost as much as encoding them; here the tags list, the trace's ids and the meta of a span
with nothing but its kind (shared_meta()) are shared by the spans of an application and a
trace, since orjson only reads them. Needs orjson; _datadog_payload.py falls back to build()
and the careful encoding when it is missing or when encoding a record fails."""

from __future__ import annotations

from typing import Any

from ..sampling import format_rate
from ..span import SpanRecord
from ..span_events import EventBuilder, shared_meta

try:
    import orjson
except ImportError:  # a core dependency; without it the sink encodes built events
    orjson = None  # type: ignore[assignment]

# Metric keys seen without a "." (most events have the same few): an event whose keys are all
# here needs no sanitised_metrics() copy.
PLAIN_METRIC_KEYS: set[Any] = set()
_MAX_PLAIN_METRIC_KEYS = 1_000


def sanitised_metrics(metrics: dict[Any, Any]) -> dict[Any, Any]:
    """`metrics` with "." in keys rewritten to "_": a "." in a metric key makes the intake
    drop the whole request (docs/wire-formats.md)."""
    if not any(type(key) is str and "." in key for key in metrics):
        if len(PLAIN_METRIC_KEYS) < _MAX_PLAIN_METRIC_KEYS:
            PLAIN_METRIC_KEYS.update(metrics)
        return metrics
    return {key.replace(".", "_") if type(key) is str else key: value
            for key, value in metrics.items()}


class SpanJSON:
    """Encodes the records of one EventBuilder's spans. encode() raises on anything it cannot
    write exactly as orjson writes the built event (a non-string key, a lone surrogate, an
    integer over 64 bits, a value build() itself fails on): the caller then builds the event
    and takes the careful path."""

    available = orjson is not None

    def __init__(self, builder: EventBuilder) -> None:
        self._builder = builder
        self._dumps = orjson.dumps

    def encode(self, record: SpanRecord) -> bytes:
        (kind, name, trace_id, span_id, parent_id, apm_trace_id, ml_app, session_id, model_name,
         model_provider, start_ns, duration_ns, error, input_value, output_value, metadata,
         metrics, span_tags, tool_definitions, sample_rate, extras, pagent) = record
        builder = self._builder
        # The builder's caches are read inline, as build() reads them: a method call per span
        # would cost what the cache saves.
        meta = shared_meta(kind, model_name, model_provider, error, input_value, output_value,
                           metadata, tool_definitions, extras, pagent)
        head = builder._tag_heads.get((ml_app, session_id)) or builder.tag_head(
            ml_app, session_id)
        tags = head if error is None and not span_tags else builder.tags(head, error, span_tags)
        if not metrics:
            metrics = {}
        elif not PLAIN_METRIC_KEYS.issuperset(metrics):
            metrics = sanitised_metrics(metrics)
        trace_hex = builder._hex.get(trace_id) or builder.trace_hex(trace_id, parent_id)
        span_id_text = str(span_id)
        event: dict[str, Any] = {
            "trace_id": trace_hex,
            "span_id": span_id_text,
            "parent_id": "undefined" if parent_id is None else str(parent_id),
            "name": name,
            "start_ns": start_ns,
            "duration": duration_ns,
            "status": "ok" if error is None else "error",
            "meta": meta,
            "metrics": metrics,
            "tags": tags,
            "_dd": {"span_id": span_id_text, "trace_id": trace_hex,
                    "apm_trace_id": (trace_hex if apm_trace_id == trace_id
                                     else builder._trace_hex(apm_trace_id)),
                    "sample_rate": "1" if sample_rate == 1.0 else format_rate(sample_rate),
                    "sampling_decision": "1"},
        }
        if session_id:
            event["session_id"] = session_id
        return self._dumps(event)
