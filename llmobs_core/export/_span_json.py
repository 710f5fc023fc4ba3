"""A span event's JSON for the Datadog sink, written straight from the finished span's record:
byte for byte what orjson writes for EventBuilder.build(record) (tests/export/
test_span_json.py compares the two on hostile records). Building the event's fresh copies
cost as much as encoding them; here the event comes from EventBuilder.event(record,
fresh=False), which shares the tags list and the meta of a span with nothing but its kind
(shared_meta()) between the spans of an application, since orjson only reads them. Needs
orjson; _datadog_payload.py falls back to build() and the careful encoding when it is
missing or when encoding a record fails."""

from __future__ import annotations

from typing import Any

from ..span import SpanRecord
from ..span_events import EventBuilder

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


# Module-level, not a class attribute: the compiled build (setup.py) keeps no class attribute
# computed at import on a compiled class.
AVAILABLE = orjson is not None


class SpanJSON:
    """Encodes the records of one EventBuilder's spans. encode() raises on anything it cannot
    write exactly as orjson writes the built event (a non-string key, a lone surrogate, an
    integer over 64 bits, a value build() itself fails on): the caller then builds the event
    and takes the careful path."""

    def __init__(self, builder: EventBuilder) -> None:
        self._event = builder.event
        self._dumps = orjson.dumps

    def encode(self, record: SpanRecord) -> bytes:
        event = self._event(record, False)
        metrics = event["metrics"]
        if metrics and not PLAIN_METRIC_KEYS.issuperset(metrics):
            event["metrics"] = sanitised_metrics(metrics)
        return self._dumps(event)
