"""A batch of span events grouped by trace, each group with its spans encoded once and what
the store indexes about it: the earliest and latest start, and the tags of its spans. Pure
Python, done before the sink takes the store's write lock. The rest of a trace's summary
(root, duration, status, session) is worked out when it is read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._store_codec import encode, integer
from .base import Event

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


class TraceGroup:
    """The spans of one trace in one batch, by span id, in arrival order."""

    __slots__ = ("trace_id", "spans", "min_start_ns", "max_start_ns", "exact_starts", "tags",
                 "events")

    def __init__(self, trace_id: str) -> None:
        self.trace_id = trace_id
        self.spans: dict[str, Event] = {}

    def summarise(self, now_ns: int) -> None:
        """Starts, tags and encoding from the spans (again after a change)."""
        lowest, highest = _INT64_MIN, _INT64_MAX
        min_start, max_start, exact_starts = highest, lowest, True
        tags: set[Any] = set()
        last_tags = last_session = None
        for event in self.spans.values():
            start = event.get("start_ns")
            if type(start) is not int or not lowest <= start <= highest:
                start = integer(start) or now_ns  # a span without a usable start is indexed now
                exact_starts = False
            if start < min_start:
                min_start = start
            if start > max_start:
                max_start = start
            span_tags = event.get("tags")
            if span_tags != last_tags:  # the spans of a trace mostly carry the same tags
                last_tags = span_tags
                if type(span_tags) is list:
                    _add_tags(tags, span_tags)
            session_id = event.get("session_id")
            if session_id and session_id != last_session:
                last_session = session_id
                tags.add(f"session_id:{session_id}")
        self.min_start_ns, self.max_start_ns, self.exact_starts = min_start, max_start, exact_starts
        self.tags = frozenset(tags)
        self.events = encode(list(self.spans.values()))


def _add_tags(tags: set[Any], span_tags: list[Any]) -> None:
    try:
        tags.update(span_tags)
    except TypeError:  # an unhashable tag: keep the strings
        tags.update(tag for tag in span_tags if type(tag) is str)


def group_by_trace(events: Sequence[Event], now_ns: int) -> dict[str, TraceGroup]:
    """The spans with a trace id and a span id, by trace; a span id repeated within a trace
    keeps its first event."""
    groups: dict[str, TraceGroup] = {}
    for event in events:
        trace_id, span_id = event.get("trace_id"), event.get("span_id")
        if not trace_id or not span_id:
            continue
        if type(trace_id) is not str:
            trace_id = str(trace_id)
        group = groups.get(trace_id)
        if group is None:
            group = groups[trace_id] = TraceGroup(trace_id)
        spans = group.spans
        if type(span_id) is not str:
            span_id = str(span_id)
        if span_id not in spans:
            spans[span_id] = event
    for group in groups.values():
        group.summarise(now_ns)
    return groups
