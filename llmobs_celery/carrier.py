"""Trace context in Celery messages (task protocol 2). The publisher writes it among the message
headers; on the worker Celery runs the task with a request dict holding the message headers,
custom ones included, at its top level (checked with the Redis and AMQP transports), and in
eager mode nothing is sent at all: the task runs in the publisher's own context."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from llmobs_core._adapter import (
    HEADERS,
    LLMObsSpan,
    RemoteContext,
    inject,
    inject_styles,
    remote_context,
)

BAGGAGE, TRACESTATE, DATADOG_TAGS = "baggage", "tracestate", "x-datadog-tags"
# The ids and Datadog/W3C headers stay under ~1.3 KB by the core's own caps; only baggage (a
# long session id) can grow further. Past this budget baggage is left out of the message.
MAX_CONTEXT_CHARS = 2048
# Encoding or parsing a context costs 15-20 us; the tasks of a fan-out (one request publishing
# many tasks) share one, so the last few are kept. Both caches hold immutable values only.
_CACHE_SIZE = 64
_written: dict[tuple[Any, ...], dict[str, str]] = {}
_read: dict[tuple[Any, ...], RemoteContext | None] = {}
_ABSENT = (None,) * len(HEADERS)


def _remember(cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


def context_headers(source: Any) -> Mapping[str, str]:
    """The propagation headers for `source` (a span or a remote context); {} when it has no
    context to give. Unlike llmobs_core.propagation.spans.inject_into, a publish never tags the
    source span ml-proxy:custom: a queue is not a proxy service. Read-only: callers copy."""
    key: tuple[Any, ...]
    styles = inject_styles()
    if type(source) is LLMObsSpan:
        key = (source.trace_id, source.span_id, source.apm_trace_id, source.ml_app,
               source.session_id, 1, source.sample_rate, source.sampled, styles)
    elif type(source) is RemoteContext and source.parent_id is not None:
        key = (source.trace_id, source.parent_id, source.apm_trace_id, source.ml_app,
               source.session_id, source.sampling_priority or 1, source.sample_rate,
               source.sampled, styles)
    else:
        return {}
    carrier = _written.get(key)
    if carrier is None:
        carrier = {}
        (trace_id, span_id, apm_trace_id, ml_app, session_id, priority, sample_rate, sampled,
         _) = key
        inject(carrier.__setitem__, trace_id=trace_id, span_id=span_id,
               apm_trace_id=apm_trace_id, ml_app=ml_app, session_id=session_id,
               sampling_priority=priority, sample_rate=sample_rate, sampled=sampled,
               styles=styles)
        _leave_out_repeats(carrier, ml_app, session_id,
                           trace_id if trace_id == apm_trace_id else None)
        if sum(len(value) for value in carrier.values()) > MAX_CONTEXT_CHARS:
            carrier.pop(BAGGAGE, None)
        _remember(_written, key, carrier)
    return carrier


def _leave_out_repeats(carrier: dict[str, str], ml_app: Any, session_id: Any,
                       implied_trace_id: int | None) -> None:
    """Drop what the Datadog headers already say. Every byte of a message header is copied
    and stored several times per task by Celery and kombu (about 54 instructions a byte and
    3,400 a header on a no-op task's worker; docs/celery.md, Cost), and the reader takes the
    llmobs keys from x-datadog-tags first: tracestate repeats them, baggage repeats ml_app and
    the session id. traceparent stays for W3C-only peers; tracestate and baggage stay when
    x-datadog-tags could not be written or had no room for ml_app or the session id.
    `implied_trace_id`: the trace id, when the llmobs trace id is the APM one (every trace an
    llmobs service starts): its _dd.p.llmobs_trace_id member (62 bytes) is left out, as
    readers (llmobs, ddtrace) take the Datadog trace id when it is missing."""
    tags = carrier.get(DATADOG_TAGS)
    if tags is None:
        return
    carrier.pop(TRACESTATE, None)
    if implied_trace_id is not None:
        member = f"_dd.p.llmobs_trace_id={implied_trace_id}"
        tags = carrier[DATADOG_TAGS] = ",".join(m for m in tags.split(",") if m != member)
    if (ml_app is None or "_dd.p.llmobs_ml_app=" in tags) and (
            session_id is None or "_dd.p.llmobs_sid=" in tags):
        carrier.pop(BAGGAGE, None)


def carries_context(headers: Mapping[str, Any]) -> bool:
    return any(name in headers for name in HEADERS)


def replace_context(headers: MutableMapping[str, Any], carrier: Mapping[str, str]) -> None:
    """Drop every trace header in `headers`, then write `carrier`'s."""
    for name in HEADERS:
        if name in headers:
            del headers[name]
    headers.update(carrier)


def request_context(request: Mapping[str, Any],
                    styles: tuple[str, ...]) -> RemoteContext | None:
    """The context a task's request carries, or None (a root), read in the header formats
    `styles`. `request` is the dict Celery runs the task with: the message headers, custom ones
    included, at its top level; a nested "headers" mapping (as some producers write) first."""
    values = tuple(map(request.get, HEADERS))
    nested = request.get("headers")
    if nested is not None and (type(nested) is dict or isinstance(nested, Mapping)):
        in_nested = tuple(map(nested.get, HEADERS))  # the ABC check alone costs ~2,000
        if in_nested != _ABSENT:
            values = in_nested
    key = (styles, values)
    try:
        return _read[key]
    except KeyError:
        pass
    except TypeError:  # a foreign producer's unhashable header value
        return remote_context(dict(zip(HEADERS, values)).get)
    context = remote_context(dict(zip(HEADERS, values)).get)
    _remember(_read, key, context)
    return context


def chord_body_options(body: Any) -> MutableMapping[str, Any] | None:
    """The options of the chord body a header task's message carries (protocol 2 embeds it in
    the message body: args, kwargs, {"chord": ...}), if any: the body is published later, by
    whichever worker finishes the last header task."""
    if not isinstance(body, (tuple, list)) or len(body) != 3 or not isinstance(body[2], Mapping):
        return None
    chord = body[2].get("chord")
    if not isinstance(chord, MutableMapping):
        return None
    options = chord.get("options")
    if options is None:
        options = chord["options"] = {}
    return options if isinstance(options, MutableMapping) else None


def stash_for_chord_body(body: Any, context: Mapping[str, str]) -> None:
    """Make the chord body, when it is published, carry `context` (the chord's publisher's)."""
    options = chord_body_options(body)
    if options is None:
        return
    body_headers = options.get("headers")
    if not isinstance(body_headers, MutableMapping):
        body_headers = options["headers"] = {}
    replace_context(body_headers, context)
