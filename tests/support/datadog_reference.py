"""The Datadog sink's request bodies as llmobs wrote them before they were encoded straight from
the span records (llmobs_core/export/_datadog_payload.py at commit 2645acd, unchanged below
this docstring but for one fix, marked "fixed:"): the reference that tests/export/
test_span_json.py holds the current bodies to, byte for byte."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

MAX_BODY_BYTES = 5 << 20
MAX_EVENT_BYTES = 5_000_000
DROPPED_VALUE = "dropped: over the size limit"
_KEEP_CHARS = 1_000
_KEEP_TAGS = 200

Event = dict[str, Any]
_EVAL_HEAD = b'{"data":{"type":"evaluation_metric","attributes":{"metrics":['
_EVAL_TAIL = b"]}}}"


def _unencodable(value: Any) -> str:
    # A span processor may leave objects JSON cannot encode: send their repr, never fail.
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


try:
    import orjson
except ImportError:  # a core dependency, but the sink still works without it, only slower
    orjson = None  # type: ignore[assignment]

# Without orjson: ASCII output (anything else \u-escaped) is what the C encoder writes fastest,
# and its bytes need no UTF-8 pass. The fast path skips the cycle check; an event that fails
# there is encoded again by the careful path.
_std_fast = json.JSONEncoder(separators=(",", ":"), check_circular=False,
                             default=_unencodable).encode
_std_careful = json.JSONEncoder(separators=(",", ":"), default=_unencodable).encode
_ENCODE_ERRORS = (ValueError, TypeError, RecursionError)  # orjson's errors are TypeErrors


def _fast(value: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(value, default=_unencodable, option=orjson.OPT_NON_STR_KEYS)
    return _std_fast(value).encode("ascii")


def _encode(value: Any) -> bytes:
    """One event, carefully: what orjson refuses (a lone surrogate, an integer over 64 bits,
    nesting past 254 levels) the standard library may still encode."""
    if orjson is not None:
        try:
            return orjson.dumps(value, default=_unencodable, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    return _std_careful(value).encode("ascii")


class Encoding:
    """What encoding a batch left out or cut down, by the batch's event index."""

    __slots__ = ("left_out", "truncated")

    def __init__(self) -> None:
        self.left_out: list[int] = []  # events that could not be built or encoded at all
        self.truncated = 0  # events over the size limit, sent with input and output dropped


Body = tuple[bytes, list[int]]  # a request body and the batch indexes of the events it holds


def span_bodies(events: Sequence[Event], tracer_version: str, encoding: Encoding
                ) -> Iterator[Body]:
    """The request bodies for `events`, each made as soon as it is full: an event is built
    (when `events` builds them as read), encoded and let go before the next, so a batch is
    never held as events, only as at most one body of bytes."""
    head = _encode({"_dd.stage": "raw", "_dd.tracer_version": tracer_version,
                    "event_type": "span", "spans": []})[:-2]  # up to '"spans":['

    def fast(event: Event) -> bytes:  # one call an event: this runs for every span
        metrics = event.get("metrics")
        if metrics and not _PLAIN_METRIC_KEYS.issuperset(metrics):
            event = _sanitised(event)
        return head + _fast(event) + b"]}"

    return _bodies(events, fast, lambda event: head + _encode(_sanitised(event)) + b"]}",
                   # fixed: an event over the limit lost its metric keys' "." rewriting
                   lambda event: head + _shrunk_span(_sanitised(event)) + b"]}", b"[", b"]",
                   encoding)


def evaluation_bodies(metrics: Sequence[Event], encoding: Encoding) -> Iterator[Body]:
    """The eval-metric request bodies for `metrics`, made as for spans."""
    return _bodies(metrics, _fast, _encode, _shrunk_evaluation, _EVAL_HEAD, _EVAL_TAIL, encoding)


def _bodies(items: Sequence[Event], fast: Callable[[Event], bytes],
            careful: Callable[[Event], bytes], shrink: Callable[[Event], bytes], head: bytes,
            tail: bytes, encoding: Encoding, limit: int = MAX_BODY_BYTES) -> Iterator[Body]:
    """`head item,item,... tail` bodies of at most `limit` bytes. An item `fast` refuses is
    tried with `careful`; one of MAX_EVENT_BYTES or more goes as what `shrink` makes of it;
    one that cannot be encoded is left out."""
    chunk: list[bytes] = []
    indexes: list[int] = []
    empty = len(head) + len(tail)
    size = empty
    for index in range(len(items)):
        try:
            item = items[index]  # read by index: a SpanEvents builds the event here
            try:
                data = fast(item)
            except _ENCODE_ERRORS:
                data = careful(item)
            if len(data) >= MAX_EVENT_BYTES:
                data = shrink(item)
                encoding.truncated += 1
        except Exception:  # a value the event builder, the sanitiser or JSON cannot take
            encoding.left_out.append(index)
            continue
        if chunk and size + 1 + len(data) > limit:
            yield head + b",".join(chunk) + tail, indexes
            chunk, indexes, size = [], [], empty
        size += len(data) + (1 if chunk else 0)
        chunk.append(data)
        indexes.append(index)
    if chunk:
        yield head + b",".join(chunk) + tail, indexes


# Metric keys seen without a "." (most events have the same few): an event whose keys are all
# here needs no _sanitised() copy.
_PLAIN_METRIC_KEYS: set[Any] = set()
_MAX_PLAIN_METRIC_KEYS = 1_000


def _sanitised(event: Event) -> Event:
    metrics = event.get("metrics")
    if type(metrics) is not dict:
        return event
    if not any(type(key) is str and "." in key for key in metrics):
        if len(_PLAIN_METRIC_KEYS) < _MAX_PLAIN_METRIC_KEYS:
            _PLAIN_METRIC_KEYS.update(metrics)
        return event
    # A "." in a metric key makes the intake drop the whole request (docs/wire-formats.md).
    return {**event, "metrics": {key.replace(".", "_") if type(key) is str else key: value
                                 for key, value in metrics.items()}}


def _shrunk_span(event: Event) -> bytes:
    """The event with input and output replaced, as the intake expects for an event over the
    limit. If it is still too big (huge metadata, tags or error), only what identifies the span
    is kept; either way it is sent, marked with collection_errors: ["dropped_io"]."""
    meta = dict(event.get("meta") or {})
    meta["input"] = meta["output"] = {"value": DROPPED_VALUE}
    shrunk = {**event, "meta": meta, "collection_errors": ["dropped_io"]}
    data = _encode(shrunk)
    if len(data) < MAX_EVENT_BYTES:
        return data
    essential = {key: meta[key] for key in ("span", "input", "output", "model_name",
                                              "model_provider") if key in meta}
    error = meta.get("error")
    if isinstance(error, dict):
        essential["error"] = {key: _clip(error.get(key)) for key in ("type", "message")}
        essential["error"]["stack"] = ""
    tags = [tag for tag in event.get("tags") or () if isinstance(tag, str)]
    shrunk.update(name=_clip(event.get("name")), meta=essential, metrics={},
                  tags=[tag[:_KEEP_CHARS] for tag in tags[:_KEEP_TAGS]])
    return _encode(shrunk)


def _shrunk_evaluation(metric: Event) -> bytes:
    shrunk = dict(metric)
    if "json_value" in shrunk:
        shrunk["json_value"] = {"value": DROPPED_VALUE}
    for key in ("reasoning", "categorical_value", "label"):
        if isinstance(shrunk.get(key), str):
            shrunk[key] = _clip(shrunk[key])
    shrunk["tags"] = [t[:_KEEP_CHARS] for t in (metric.get("tags") or ())[:_KEEP_TAGS]
                      if isinstance(t, str)]
    return _encode(shrunk)


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else _unencodable(value)
    return text[:_KEEP_CHARS]
