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
        spans = self.spans
        min_start, max_start, exact_starts = _INT64_MAX, _INT64_MIN, True
        tags: set[Any] = set()
        last_tags = last_facts = None
        for start, exact, span_tags, _, facts in spans.values():
            if start < min_start:
                min_start = start
            if start > max_start:
                max_start = start
            exact_starts = exact_starts and exact
            if span_tags != last_tags:  # the spans of a trace mostly carry the same tags
                last_tags = span_tags
                tags |= _tag_set(span_tags)
            if facts is not last_facts:  # facts tuples are shared (_facts_of)
                last_facts = facts
                tags.update(facts)
        self.min_start_ns, self.max_start_ns, self.exact_starts = min_start, max_start, exact_starts
        self.tags = frozenset(tags)
        self.events = _array([facts[3] for facts in spans.values()])


def _array(encoded: list[bytes]) -> str:
    """The spans' JSON array, as text: sqlite3 binds a str directly, where a bytes value first
    goes through its adapter lookup, which costs more than the decoding."""
    return (b"[" + b",".join(encoded) + b"]").decode()


def _tag_set(tags: tuple[Any, ...]) -> frozenset[Any]:
    try:
        return frozenset(tags)
    except TypeError:  # an unhashable tag: keep the strings
        return frozenset(tag for tag in tags if type(tag) is str)


def span_facts(event: Event, now_ns: int) -> SpanFacts:
    return (*_indexed_start(event, now_ns), _tags_of(event), encode(event), _facts_of(event))


def _indexed_start(event: Event, now_ns: int) -> tuple[int, bool]:
    """The start the store indexes, and whether it is the span's own: a span without a
    usable start is indexed now."""
    start = event.get("start_ns")
    if type(start) is int and _INT64_MIN <= start <= _INT64_MAX:
        return start, True
    return integer(start) or now_ns, False


def _tags_of(event: Event) -> tuple[Any, ...]:
    span_tags = event.get("tags")
    tags = tuple(span_tags) if type(span_tags) is list else ()
    session_id = event.get("session_id")
    if session_id:
        tags += (f"session_id:{session_id}",)
    return tags


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

    def __init__(self, trace_id: str, span_id: str, event: Event, now_ns: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.min_start_ns, self.exact_starts = _indexed_start(event, now_ns)
        self.max_start_ns = self.min_start_ns
        self.tags = _tags_of(event) + _facts_of(event)
        self.events = (b"[" + encode(event) + b"]").decode()

    def as_group(self) -> TraceGroup:
        facts = (self.min_start_ns, self.exact_starts, self.tags, self.events[1:-1].encode(),
                 ())
        group = TraceGroup(self.trace_id, {self.span_id: facts})
        group.summarise()
        return group


def group_by_trace(events: Sequence[Event], now_ns: int) -> dict[str, TraceGroup | OneSpan]:
    """The spans with a trace id and a span id, by trace; a span id repeated within a trace
    keeps its first event."""
    groups: dict[str, TraceGroup | OneSpan] = {}
    for index, event in enumerate(events, 1):
        if not index % _YIELD_EVERY:
            time.sleep(0)  # let the application run: lowers a busy server's p99
        trace_id, span_id = event.get("trace_id"), event.get("span_id")
        if not trace_id or not span_id:
            continue
        if type(trace_id) is not str:
            trace_id = str(trace_id)
        if type(span_id) is not str:
            span_id = str(span_id)
        group = groups.get(trace_id)
        if group is None:
            groups[trace_id] = OneSpan(trace_id, span_id, event, now_ns)
        elif isinstance(group, OneSpan):
            if span_id != group.span_id:
                groups[trace_id] = many = group.as_group()
                many.spans[span_id] = span_facts(event, now_ns)
        elif span_id not in group.spans:
            group.spans[span_id] = span_facts(event, now_ns)
    for group in groups.values():
        if type(group) is TraceGroup:
            group.summarise()
    return groups
