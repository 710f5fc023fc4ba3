"""Turning finished spans into WIRE.md's span events. Runs on the writer thread, never on the
caller's: this is where values are encoded."""

from __future__ import annotations

import json
from typing import Any

from .span import MODEL_KINDS, LLMObsSpan

_MAX_TEXT = 1_000_000


def as_text(value: Any) -> str:
    """Any object as a string: strings as they are, everything else as JSON where it can be,
    and as its repr (or a placeholder) where it cannot. Never raises."""
    if isinstance(value, str):
        return value
    try:
        text = json.dumps(value, default=_fallback, ensure_ascii=False)
    except Exception:  # circular references, hostile __repr__, mutation while encoding
        text = _fallback(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "...[truncated]"


def _fallback(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a dict of arguments, metadata or tool-call data."""
    try:
        return json.loads(json.dumps(value, default=_fallback, ensure_ascii=False))
    except Exception:
        return _fallback(value)


def _message(message: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"content": as_text(message.get("content", ""))}
    if "role" in message:
        out["role"] = message["role"]
    for key in ("tool_calls", "tool_results"):
        if key in message:
            out[key] = _plain(message[key])
    return out


def _document(document: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        out[key] = value if key == "score" else as_text(value)
    return out


def _io(kind: str, direction: int, value: Any) -> dict[str, Any]:
    if kind == "llm":
        return {"messages": [_message(m) for m in value]}
    if (kind, direction) in (("embedding", 0), ("retrieval", 1)):
        return {"documents": [_document(d) for d in value]}
    return {"value": as_text(value)}


def build_span_event(span: LLMObsSpan, static_tags: list[str]) -> dict[str, Any]:
    kind = span.kind
    meta: dict[str, Any] = {"span": {"kind": kind}}
    if span.input is not None:
        meta["input"] = _io(kind, 0, span.input)
    if span.output is not None:
        meta["output"] = _io(kind, 1, span.output)
    if span.metadata:
        meta["metadata"] = _plain(span.metadata)
    if kind in MODEL_KINDS:
        meta["model_name"] = span.model_name or "custom"
        meta["model_provider"] = (span.model_provider or "custom").lower()
    tags = [f"ml_app:{span.ml_app}", *static_tags]
    if span.session_id:
        tags.append(f"session_id:{span.session_id}")
    if span.error is None:
        tags.append("error:0")
    else:
        error_type, message, stack = span.error
        meta["error"] = {"type": error_type, "message": message, "stack": stack}
        tags.append("error:1")
        tags.append(f"error_type:{error_type}")
    if span.tags:
        tags.extend(f"{key}:{value}" for key, value in span.tags.items())
    trace_id = f"{span.trace_id:032x}"
    span_id = str(span.span_id)
    event: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_id": "undefined" if span.parent_id is None else str(span.parent_id),
        "name": span.name,
        "start_ns": span.start_ns,
        "duration": span.duration_ns,
        "status": span.status,
        "meta": meta,
        "metrics": dict(span.metrics) if span.metrics else {},
        "tags": tags,
        "_dd": {"span_id": span_id, "trace_id": trace_id,
                "apm_trace_id": f"{span.apm_trace_id:032x}"},
    }
    if span.session_id:
        event["session_id"] = span.session_id
    return event
