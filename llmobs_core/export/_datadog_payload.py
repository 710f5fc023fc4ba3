"""Request bodies for the Datadog intake (WIRE.md): span envelopes and evaluation metrics. Each
event is JSON-encoded once and the results are packed into bodies of at most 5 MiB."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

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


_encode_str = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                               default=_unencodable).encode


def _encode(value: Any) -> bytes:
    return _encode_str(value).encode("utf-8", "replace")


def envelope_parts(tracer_version: str) -> tuple[bytes, bytes]:
    """The bytes around one encoded span: {"_dd.stage": "raw", ..., "spans": [<span>]}."""
    head = (f'{{"_dd.stage":"raw","_dd.tracer_version":{json.dumps(tracer_version)},'
            '"event_type":"span","spans":[')
    return head.encode(), b"]}"


def span_bodies(events: Iterable[Event], envelope: tuple[bytes, bytes]) -> tuple[list[Body], int]:
    """The request bodies for `events` and how many events had to be cut down to fit."""
    head, tail = envelope
    encoded = []
    truncated = 0
    for event in events:
        metrics = event.get("metrics")
        if metrics and any("." in key for key in metrics):
            # A "." in a metric key makes the intake drop the whole request (WIRE.md).
            event = {**event, "metrics": {k.replace(".", "_"): v for k, v in metrics.items()}}
        data = _encode(event)
        if len(data) >= MAX_EVENT_BYTES:
            data = _shrunk_span(event)
            truncated += 1
        encoded.append(head + data + tail)
    return pack(encoded, b"[", b"]"), truncated


def evaluation_bodies(metrics: Iterable[Event]) -> tuple[list[Body], int]:
    """The eval-metric request bodies for `metrics` and how many had to be cut down."""
    encoded = []
    truncated = 0
    for metric in metrics:
        data = _encode(metric)
        if len(data) >= MAX_EVENT_BYTES:
            data = _shrunk_evaluation(metric)
            truncated += 1
        encoded.append(data)
    return pack(encoded, _EVAL_HEAD, _EVAL_TAIL), truncated


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
    shrunk.update(name=_clip(event.get("name")), meta=essential,
                  tags=[tag[:_KEEP_CHARS] for tag in tags[:_KEEP_TAGS]])
    shrunk.pop("metrics", None)
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
