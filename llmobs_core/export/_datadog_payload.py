"""Request bodies for the Datadog intake (docs/wire-formats.md): span envelopes and
evaluation metrics, JSON-encoded on the writer thread and packed into bodies of at most 5 MiB."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

MAX_BODY_BYTES = 5 << 20
MAX_EVENT_BYTES = 5_000_000
DROPPED_VALUE = "dropped: over the size limit"
_KEEP_CHARS = 1_000
_KEEP_TAGS = 200

Event = dict[str, Any]
Body = tuple[bytes, int]  # the encoded request body and how many events it carries
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
# and its bytes need no UTF-8 pass. The fast path skips the cycle check; a batch that fails
# there is encoded again, event by event, by the careful path.
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


class Encoded(NamedTuple):
    bodies: list[Body]
    truncated: int  # events over the size limit, sent with input and output dropped
    unencodable: int  # events JSON could not encode at all (a cycle left by a span processor)


def span_bodies(events: Sequence[Event], tracer_version: str) -> Encoded:
    """The request bodies for `events`. A batch is encoded in one call; only a batch of
    5,000,000 bytes or more (or one that fails) is encoded again, event by event, to split it
    and to find the events over the limit."""
    if not events:
        return Encoded([], 0, 0)
    envelopes = [{"_dd.stage": "raw", "_dd.tracer_version": tracer_version,
                  "event_type": "span", "spans": [_sanitised(event)]} for event in events]
    try:
        body = _fast(envelopes)
    except _ENCODE_ERRORS:
        body = None
    if body is not None and len(body) < MAX_EVENT_BYTES:
        return Encoded([(body, len(envelopes))], 0, 0)
    return _split_spans(envelopes)


def _sanitised(event: Event) -> Event:
    metrics = event.get("metrics")
    if type(metrics) is dict and any(type(key) is str and "." in key for key in metrics):
        # A "." in a metric key makes the intake drop the whole request (docs/wire-formats.md).
        return {**event, "metrics": {
            key.replace(".", "_") if type(key) is str else key: value
            for key, value in metrics.items()}}
    return event


def _split_spans(envelopes: list[Event]) -> Encoded:
    head = _encode({**envelopes[0], "spans": []})[:-2]  # the envelope up to '"spans":['
    encoded, truncated, unencodable = _encode_each(
        [envelope["spans"][0] for envelope in envelopes], _shrunk_span)
    return Encoded(pack([head + data + b"]}" for data in encoded], b"[", b"]"),
                   truncated, unencodable)


def _encode_each(items: list[Event], shrink: Any) -> tuple[list[bytes], int, int]:
    """Each item encoded on its own: one of MAX_EVENT_BYTES or more is replaced by what
    `shrink` makes of it, one that cannot be encoded is left out. Returns the encoded items and
    how many were shrunk and left out."""
    encoded = []
    truncated = unencodable = 0
    for item in items:
        try:
            data = _encode(item)
            if len(data) >= MAX_EVENT_BYTES:
                data = shrink(item)
                truncated += 1
        except _ENCODE_ERRORS:
            unencodable += 1
            continue
        encoded.append(data)
    return encoded, truncated, unencodable


def evaluation_bodies(metrics: list[Event]) -> Encoded:
    """The eval-metric request bodies for `metrics`; encoded in one call unless they come to
    5,000,000 bytes or more (or fail), as for spans."""
    if not metrics:
        return Encoded([], 0, 0)
    try:
        body = _fast({"data": {"type": "evaluation_metric", "attributes": {"metrics": metrics}}})
    except _ENCODE_ERRORS:
        body = None
    if body is not None and len(body) < MAX_EVENT_BYTES:
        return Encoded([(body, len(metrics))], 0, 0)
    encoded, truncated, unencodable = _encode_each(metrics, _shrunk_evaluation)
    return Encoded(pack(encoded, _EVAL_HEAD, _EVAL_TAIL), truncated, unencodable)


def pack(items: list[bytes], head: bytes, tail: bytes, limit: int = MAX_BODY_BYTES) -> list[Body]:
    """Join encoded items into `head item,item,... tail` bodies of at most `limit` bytes."""
    bodies: list[Body] = []
    chunk: list[bytes] = []
    empty = len(head) + len(tail)
    size = empty
    for item in items:
        if chunk and size + 1 + len(item) > limit:
            bodies.append((head + b",".join(chunk) + tail, len(chunk)))
            chunk, size = [], empty
        size += len(item) + (1 if chunk else 0)
        chunk.append(item)
    if chunk:
        bodies.append((head + b",".join(chunk) + tail, len(chunk)))
    return bodies


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
