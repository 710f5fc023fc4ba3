"""A batch of span events grouped by trace, each span encoded as soon as it is read, with what
the store indexes about it: the earliest and latest start, and the tags of its spans. Pure
Python, done before the sink takes the store's write lock. The rest of a trace's summary
(root, duration, status, session) is worked out when it is read.

Each event dict is dropped once encoded: a batch holds only text, bytes and tuples of strings,
which the cyclic GC leaves alone, where a thousand live event dicts would be scanned and
promoted, making full collections of the host's whole heap far more frequent."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .codec import Event, encode, integer

_YIELD_EVERY = 200  # spans, about a millisecond of work inside a busy server
_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)

# Reserved tag keys for facts read off each span (docs/local-store.md, "Facts").
FACT_KEYS = ("@kind", "@model", "@status")
FACTS_MARK = "@facts:1"
ERROR_FACT = "@status:error"
_FACTS: dict[tuple[Any, Any, bool], tuple[str, ...]] = {}
_FACTS_LIMIT = 1_000

# What a group keeps of a span: (start_ns as indexed, whether that start is the span's own,
# the span's tags with its session as a tag, the encoded event, its facts as tags).
SpanFacts = tuple[int, bool, tuple[Any, ...], bytes, tuple[str, ...]]


class TraceGroup:
    """The spans of one trace in one batch, by span id, in arrival order."""

    __slots__ = ("trace_id", "spans", "min_start_ns", "max_start_ns", "exact_starts", "tags",
                 "events")

    def __init__(self, trace_id: str, spans: dict[str, SpanFacts]) -> None:
        self.trace_id = trace_id
        self.spans = spans

    @property
    def span_count(self) -> int:
        return len(self.spans)

    def summarise(self) -> None:
        """Starts, tags and the JSON array of the spans (again after a change)."""
        min_start, max_start, exact_starts = _INT64_MAX, _INT64_MIN, True
        tags: set[Any] = set()
        encoded = []
        last_tags = last_facts = None
        for start, exact, span_tags, data, facts in self.spans.values():
            if start < min_start:
                min_start = start
            if start > max_start:
                max_start = start
            exact_starts = exact_starts and exact
            if span_tags != last_tags:  # the spans of a trace mostly carry the same tags
                last_tags = span_tags
                try:
                    tags.update(span_tags)
                except TypeError:  # an unhashable tag: keep the strings
                    tags.update(tag for tag in span_tags if type(tag) is str)
            if facts is not last_facts:  # facts tuples are shared (_facts_of)
                last_facts = facts
                tags.update(facts)
            encoded.append(data)
        self.min_start_ns, self.max_start_ns, self.exact_starts = min_start, max_start, exact_starts
        self.tags = frozenset(tags)
        # Text, not bytes: sqlite3 binds a str directly, where a bytes value first goes
        # through its adapter lookup, which costs more than the decoding.
        self.events = (b"[" + b",".join(encoded) + b"]").decode()


def span_facts(event: Event, now_ns: int) -> SpanFacts:
    """What a group keeps of one span event, read in one pass (this runs for every span)."""
    start = event.get("start_ns")
    if type(start) is int and _INT64_MIN <= start <= _INT64_MAX:
        exact = True
    else:  # a span without a usable start is indexed now
        start, exact = integer(start) or now_ns, False
    span_tags = event.get("tags")
    tags = tuple(span_tags) if type(span_tags) is list else ()
    session_id = event.get("session_id")
    if session_id:
        tags += (f"session_id:{session_id}",)
    return start, exact, tags, encode(event), _facts_of(event)


def _facts_of(event: Event) -> tuple[str, ...]:
    """The span's kind, model and error status as reserved tags (FACT_KEYS), so the viewer's
    filters on them use the tag index; FACTS_MARK says a span's facts are in its tags. The
    tuples are shared: a batch's spans have few kinds and models."""
    meta = event.get("meta")
    kind = model = None
    if type(meta) is dict:
        span = meta.get("span")
        if type(span) is dict:
            kind = span.get("kind")
        model = meta.get("model_name")
    key = (kind, model, event.get("status") == "error")
    try:
        return _FACTS[key]
    except KeyError:
        if len(_FACTS) >= _FACTS_LIMIT:
            _FACTS.clear()
        found = _FACTS[key] = _facts(*key)
        return found
    except TypeError:  # a kind or model that is not hashable
        return _facts(*key)


def _facts(kind: Any, model: Any, error: bool) -> tuple[str, ...]:
    facts: tuple[str, ...] = (FACTS_MARK,)
    if type(kind) is str:
        facts += (f"@kind:{kind}",)
    if model:
        facts += (f"@model:{model}",)
    return facts + (ERROR_FACT,) if error else facts


class OneSpan:
    """A trace with one span in the batch, the common case (a web request's trace), kept
    lean: no dict of spans, its tags as the span's own tuple, encoded as a one-span array."""

    __slots__ = ("trace_id", "span_id", "min_start_ns", "max_start_ns", "exact_starts", "tags",
                 "events")
    span_count = 1

    def __init__(self, trace_id: str, span_id: str, facts: SpanFacts) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        start, self.exact_starts, tags, encoded, span_facts = facts
        self.min_start_ns = self.max_start_ns = start
        self.tags = tags + span_facts
        self.events = (b"[" + encoded + b"]").decode()

    def as_group(self) -> TraceGroup:
        facts = (self.min_start_ns, self.exact_starts, self.tags, self.events[1:-1].encode(),
                 ())
        group = TraceGroup(self.trace_id, {self.span_id: facts})
        group.summarise()
        return group


def group_by_trace(events: Sequence[Event], now_ns: int,
                   yield_now_and_then: bool = True) -> dict[str, TraceGroup | OneSpan]:
    """The spans with a trace id and a span id, by trace; a span id repeated within a trace
    keeps its first event. Each event is encoded as it is read, and let go. In the writer,
    the application's threads get the interpreter now and then (a reader need not)."""
    by_trace: dict[str, dict[str, SpanFacts]] = {}
    for index, event in enumerate(events, 1):
        if yield_now_and_then and not index % _YIELD_EVERY:
            time.sleep(0)  # let the application run: lowers a busy server's p99
        trace_id, span_id = event.get("trace_id"), event.get("span_id")
        if not trace_id or not span_id:
            continue
        if type(trace_id) is not str:
            trace_id = str(trace_id)
        if type(span_id) is not str:
            span_id = str(span_id)
        spans = by_trace.get(trace_id)
        if spans is None:
            by_trace[trace_id] = {span_id: span_facts(event, now_ns)}
        elif span_id not in spans:
            spans[span_id] = span_facts(event, now_ns)
    groups: dict[str, TraceGroup | OneSpan] = {}
    for trace_id, spans in by_trace.items():
        if len(spans) == 1:
            [(span_id, facts)] = spans.items()
            groups[trace_id] = OneSpan(trace_id, span_id, facts)
        else:
            groups[trace_id] = group = TraceGroup(trace_id, spans)
            group.summarise()
    return groups
