"""How the local store turns span events into bytes and back, and reads the fields it indexes
out of an event. Shared by the sink and the reader, so both see a span the same way."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # a core dependency, but the store still works without it, only slower
    orjson = None  # type: ignore[assignment]

Event = dict[str, Any]  # a span event or an evaluation metric, in docs/wire-formats.md's shapes
_INT64 = 1 << 63
ROOT_PARENTS = (None, "undefined", "0")


def encode(value: Any) -> bytes:
    """Compact, strict JSON (SQLite's JSON functions read it): values JSON cannot hold
    natively become text, NaN and infinities null (as orjson writes them)."""
    try:
        if orjson is not None:
            return orjson.dumps(value, default=str)
        return _strict_json(value)
    except (TypeError, ValueError):  # keys that are not strings, huge ints, lone surrogates
        return _strict_json(value)


def _strict_json(value: Any) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=True,
                          allow_nan=False).encode()
    except ValueError as exc:
        if "out of range float" not in str(exc).lower():
            raise
    loose = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=True)
    return json.dumps(json.loads(loose, parse_constant=lambda _: None), separators=(",", ":"),
                      ensure_ascii=True, allow_nan=False).encode()


def decode(data: bytes | str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:  # an escaped lone surrogate, which only json takes
            pass
    return json.loads(data)


def text(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def integer(value: Any) -> int | None:
    """An int SQLite can hold, or None: one odd value must not fail a batch."""
    if type(value) is not int:
        try:
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return value if -_INT64 <= value < _INT64 else None


def tag_value(tags: Any, key: str) -> str | None:
    """The value of the last "key:value" tag, or None."""
    found = None
    if type(tags) is list:
        prefix = key + ":"
        for tag in tags:
            if type(tag) is str and tag.startswith(prefix):
                found = tag[len(prefix):]
    return found


def session_of(event: dict[str, Any]) -> str | None:
    return text(event.get("session_id") or tag_value(event.get("tags"), "session_id"))


def kind_of(event: dict[str, Any]) -> str | None:
    meta = event.get("meta")
    span = meta.get("span") if isinstance(meta, dict) else None
    return text(span.get("kind")) if isinstance(span, dict) else None


def has_tag(event: dict[str, Any], key: str, value: str | None) -> bool:
    """Whether the span carries the tag "key:value" (any value when `value` is None)."""
    tags = event.get("tags")
    if type(tags) is not list:
        return False
    if value is not None:
        return f"{key}:{value}" in tags
    prefix = key + ":"
    return any(type(tag) is str and (tag == key or tag.startswith(prefix)) for tag in tags)


def trace_summary(spans: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """A trace's root (a span without a parent, else the earliest), span count, duration,
    status and session (the first stored span's that has one), from (start_ns, span) pairs
    in the order the spans were stored."""
    start_ns = min(start for start, _ in spans)
    end_ns = start_ns
    errors, session, root, root_key = 0, None, None, (-1, 0)
    for start, span in spans:
        duration = integer(span.get("duration")) or 0
        end_ns = max(end_ns, start + duration)
        errors += span.get("status") == "error"
        session = session or session_of(span)
        key = (int(text(span.get("parent_id")) in ROOT_PARENTS), -start)
        if key > root_key:
            root, root_key, root_duration = span, key, duration
    assert root is not None, "a trace has at least one span"
    return {"ml_app": tag_value(root.get("tags"), "ml_app"), "root_name": text(root.get("name")),
            "root_kind": kind_of(root), "span_count": len(spans),
            "duration": root_duration if root_key[0] else end_ns - start_ns,
            "status": "error" if errors else "ok", "session_id": session}
