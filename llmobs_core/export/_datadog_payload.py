"""Request bodies for the Datadog intake (docs/wire-formats.md): span envelopes and
evaluation metrics, JSON-encoded one by one on the writer thread and packed into bodies of at
most 5 MiB, each sent as soon as it is full."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from ._span_json import AVAILABLE as SPAN_JSON_AVAILABLE
from ._span_json import PLAIN_METRIC_KEYS, SpanJSON, sanitised_metrics
from .base import Event, builder_of

MAX_BODY_BYTES: Final = 5 << 20
MAX_EVENT_BYTES: Final = 5_000_000
DROPPED_VALUE: Final = "dropped: over the size limit"
_KEEP_CHARS: Final = 1_000
_KEEP_TAGS: Final = 200

_EVAL_HEAD: Final = b'{"data":{"type":"evaluation_metric","attributes":{"metrics":['
_EVAL_TAIL: Final = b"]}}}"


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
_std_fast: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False,
                             default=_unencodable).encode
_std_careful: Final = json.JSONEncoder(separators=(",", ":"), default=_unencodable).encode
_ENCODE_ERRORS: Final = (ValueError, TypeError, RecursionError)  # orjson's errors are TypeErrors


def _fast(value: Any) -> bytes:
    """One event, fast: orjson without OPT_NON_STR_KEYS, which costs a third more; an event
    with a key that is not a string is encoded by _encode()."""
    if orjson is not None:
        return orjson.dumps(value, default=_unencodable)
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
    never held as events, only as at most one body of bytes. Each span goes in an envelope
    of its own: `[envelope, envelope, ...]`."""
    envelope = _encode({"_dd.stage": "raw", "_dd.tracer_version": tracer_version,
                        "event_type": "span", "spans": []})
    envelope_head, envelope_tail = envelope[:-2], envelope[-2:]  # up to '"spans":[', then ']}'
    # The envelopes are written as the separators of one join: no copy of each event's bytes.
    parts = (b"[" + envelope_head, envelope_tail + b"," + envelope_head, envelope_tail + b"]")
    builder = builder_of(events)
    if builder is not None and SPAN_JSON_AVAILABLE:
        # The writer's events, built as read: encoded straight from their records, and built
        # only when that fails (then encoded as any event is, or left out).
        records = events.records  # type: ignore[attr-defined]
        return _bodies(records, SpanJSON(builder).encode,
                       lambda record: _encode(_sanitised(builder.build(record))),
                       lambda record: _shrunk_span(_sanitised(builder.build(record))), parts,
                       encoding)
    return _bodies(events, lambda event: _fast(_sanitised(event)),
                   lambda event: _encode(_sanitised(event)),
                   lambda event: _shrunk_span(_sanitised(event)), parts, encoding)


def _sanitised(event: Event) -> Event:
    metrics = event.get("metrics")
    if metrics and type(metrics) is dict and not PLAIN_METRIC_KEYS.issuperset(metrics):
        return {**event, "metrics": sanitised_metrics(metrics)}
    return event


def evaluation_bodies(metrics: Sequence[Event], encoding: Encoding) -> Iterator[Body]:
    """The eval-metric request bodies for `metrics`, made as for spans."""
    return _bodies(metrics, _fast, _encode, _shrunk_evaluation,
                   (_EVAL_HEAD, b",", _EVAL_TAIL), encoding)


def _bodies(items: Sequence[Any], fast: Callable[[Any], bytes],
            careful: Callable[[Any], bytes], shrink: Callable[[Any], bytes],
            parts: tuple[bytes, bytes, bytes], encoding: Encoding,
            limit: int = MAX_BODY_BYTES) -> Iterator[Body]:
    """`head item separator item ... tail` bodies of at most `limit` bytes, from `parts`
    (head, separator, tail). An item `fast` refuses is tried with `careful`; one of
    MAX_EVENT_BYTES or more goes as what `shrink` makes of it; one that cannot be encoded is
    left out."""
    head, separator, tail = parts
    # The body's pieces, separators included, for one join: one copy of each event's bytes.
    pieces: list[bytes] = [head]
    indexes: list[int] = []
    empty = len(head) + len(tail)
    size = empty
    between = len(separator)
    for index in range(len(items)):
        try:
            item = items[index]  # read by index: a SpanEvents builds the event here
            try:
                data = fast(item)
            except Exception:  # careful decides: the same bytes, or left out
                data = careful(item)
            if len(data) >= MAX_EVENT_BYTES:
                data = shrink(item)
                encoding.truncated += 1
        except Exception:  # a value the event builder, the sanitiser or JSON cannot take
            encoding.left_out.append(index)
            continue
        if indexes and size + between + len(data) > limit:
            pieces.append(tail)
            yield b"".join(pieces), indexes
            pieces, indexes, size = [head], [], empty
        if indexes:
            pieces.append(separator)
            size += between
        pieces.append(data)
        size += len(data)
        indexes.append(index)
    if indexes:
        pieces.append(tail)
        yield b"".join(pieces), indexes


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
