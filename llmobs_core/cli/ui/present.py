"""Span events turned into what the templates show: the tree with its waterfall, and each span's
panel (input and output by kind, metrics, error, evaluations, the stored JSON). Everything
here stays plain data; the templates escape it."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ...store.codec import ROOT_PARENTS, integer, kind_of, session_of, tag_value, text
from ...store.facts import evaluation_value, trace_tokens
from ...store.queries import evaluations_by_span

FORMATTED_LIMIT = 20_000  # characters of one value in the Formatted view
JSON_LIMIT = 1_000_000  # characters of one span's stored JSON shown in the page
MAX_INDENT = 24
_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(html: str) -> str:
    """Lone surrogates (kept by the store from invalid input) cannot be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", html)


def pretty_json(value: Any, limit: int | None = None) -> str:
    """Indented JSON as stored: lone surrogates written as \\udxxx escapes, as the store does."""
    try:
        dumped = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        try:
            dumped = json.dumps(value, ensure_ascii=False, default=str)
        except (RecursionError, ValueError):
            return "(too deeply nested to show)"
    dumped = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
    return clip(dumped, limit)


def clip(value: str, limit: int | None = FORMATTED_LIMIT) -> str:
    if limit is None or len(value) <= limit:
        return value
    return f"{value[:limit]}\n… {len(value) - limit:,} more characters (the JSON view has them)"


def shown(value: Any) -> str:
    """A value in the Formatted view: strings as they are, anything else as JSON."""
    return clip(value) if isinstance(value, str) else pretty_json(value, FORMATTED_LIMIT)


def duration(ns: Any) -> str:
    ns = integer(ns)
    if ns is None:
        return ""
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= size:
            return f"{ns / size:.{1 if unit != 's' else 2}f}{unit}"
    return f"{ns}ns"


def local_time(ns: Any) -> str:
    ns = integer(ns)
    if ns is None:
        return ""
    try:
        return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ns)


def evaluation(metric: dict[str, Any]) -> dict[str, Any]:
    value = evaluation_value(metric)
    return {"label": text(metric.get("label")) or "", "value": shown(value) if value is not None
            else "", "assessment": text(metric.get("assessment")) or "",
            "reasoning": shown(metric.get("reasoning") or ""),
            "failed": metric.get("assessment") == "fail"}


def io_summary(span: dict[str, Any] | None, side: str, limit: int = 300) -> str:
    """One line for lists and sessions: the last user message or the value."""
    meta = span.get("meta") if isinstance(span, dict) else None
    data = meta.get(side) if isinstance(meta, dict) else None
    if not isinstance(data, dict):
        return ""
    messages = data.get("messages")
    if isinstance(messages, list) and messages:
        wanted = [m for m in messages if isinstance(m, dict)
                  and m.get("role") == ("user" if side == "input" else "assistant")]
        last = (wanted or messages)[-1]
        return clip(shown(last.get("content", "") if isinstance(last, dict) else last), limit)
    if "value" in data:
        return clip(shown(data["value"]), limit)
    return clip(shown(data.get("documents", "")), limit)


def trace_view(trace: dict[str, Any]) -> dict[str, Any]:
    """The whole trace page: rows of the tree (with waterfall offsets) and a panel per span."""
    spans = [span for span in trace["spans"] if isinstance(span, dict)]
    starts = [integer(span.get("start_ns")) or 0 for span in spans]
    t0 = min(starts, default=0)
    t1 = max((start + (integer(span.get("duration")) or 0) for start, span in zip(starts, spans)),
             default=t0)
    total = max(t1 - t0, 1)
    evals = evaluations_by_span(trace)
    rows = []
    for depth, span, orphan in _tree(spans):
        start = (integer(span.get("start_ns")) or t0) - t0
        length = integer(span.get("duration")) or 0
        rows.append({**panel(span, evals.get(str(span.get("span_id")), [])),
                     "depth": min(depth, MAX_INDENT), "deeper": max(depth - MAX_INDENT, 0),
                     "orphan": orphan, "offset": f"{100 * start / total:.3f}",
                     "width": f"{max(100 * length / total, 0.15):.3f}"})
    return {"trace_id": text(trace.get("trace_id")) or "", "rows": rows,
            "duration": duration(t1 - t0), "start": local_time(t0),
            "span_count": len(spans), "errors": sum(row["error_flag"] for row in rows),
            "tokens": trace_tokens(spans), "evaluations": [evaluation(m) for m in
                                                          trace.get("evaluations", [])]}


def panel(span: dict[str, Any], metrics_of_evals: list[dict[str, Any]]) -> dict[str, Any]:
    meta = _dict(span.get("meta"))
    error = _dict(meta.get("error"))
    tags = _list(span.get("tags"))
    metrics = _dict(span.get("metrics"))
    kind = kind_of(span) or ""
    return {
        "span_id": text(span.get("span_id")) or "", "name": text(span.get("name")) or "",
        "kind": kind, "ml_app": tag_value(tags, "ml_app") or "",
        "service": tag_value(tags, "service") or "", "session": session_of(span) or "",
        "model": text(meta.get("model_name")) or "",
        "provider": text(meta.get("model_provider")) or "",
        "duration": duration(span.get("duration")), "status": text(span.get("status")) or "",
        "error_flag": span.get("status") == "error",
        "tags": [shown(tag) for tag in tags],
        "metadata": pretty_json(meta["metadata"], FORMATTED_LIMIT) if meta.get("metadata")
        else "",
        "metrics": [(shown(key), shown(value)) for key, value in metrics.items()],
        "error": {key: shown(error.get(key, "")) for key in ("type", "message", "stack")}
        if error else None,
        "evaluations": [evaluation(m) for m in metrics_of_evals],
        "input": io_view(meta.get("input")), "output": io_view(meta.get("output")),
        "json": pretty_json(span, JSON_LIMIT),
    }


def io_view(data: Any) -> dict[str, Any] | None:
    """{"messages": [...]} / {"documents": [...]} / {"value": str} / {"other": json}."""
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        return {"value": shown(data)}
    view: dict[str, Any] = {}
    messages = data.get("messages")
    if isinstance(messages, list):
        view["messages"] = [_message(m) for m in messages]
    documents = data.get("documents")
    if isinstance(documents, list):
        view["documents"] = [_document(d) for d in documents]
    if "value" in data:
        view["value"] = shown(data["value"])
    rest = {key: value for key, value in data.items() if key not in view}
    if rest:
        view["other"] = pretty_json(rest, FORMATTED_LIMIT)
    return view


def _message(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        return {"role": "", "content": shown(message), "tool_calls": [], "tool_results": []}
    calls = _list(message.get("tool_calls"))
    results = _list(message.get("tool_results"))
    return {"role": shown(message.get("role") or ""), "content": shown(message.get("content", "")),
            "tool_calls": [{"name": shown(c.get("name", "")), "id": shown(c.get("tool_id", "")),
                            "arguments": pretty_json(c.get("arguments"), FORMATTED_LIMIT)}
                           for c in calls if isinstance(c, dict)],
            "tool_results": [{"name": shown(r.get("name", "")), "id": shown(r.get("tool_id", "")),
                              "result": shown(r.get("result", ""))}
                             for r in results if isinstance(r, dict)]}


def _document(document: Any) -> dict[str, str]:
    if not isinstance(document, dict):
        return {"text": shown(document), "name": "", "id": "", "score": ""}
    return {key: shown(document.get(key, "")) for key in ("text", "name", "id", "score")}


def _tree(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any], bool]]:
    """(depth, span, parent missing from the store) in tree order, children by start; spans
    caught in a parent cycle are shown as roots. Iterative: a trace may nest deeply."""
    by_id = {str(span.get("span_id")): span for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        parent = text(span.get("parent_id"))
        if parent in ROOT_PARENTS or parent not in by_id:
            roots.append(span)
        else:
            children.setdefault(parent, []).append(span)

    def start(span: dict[str, Any]) -> int:
        return integer(span.get("start_ns")) or 0

    order, seen = [], set()
    pending = sorted(roots, key=start)
    while True:
        stack = [(0, span) for span in reversed(pending)]
        while stack:
            depth, span = stack.pop()
            key = str(span.get("span_id"))
            if key in seen:
                continue
            seen.add(key)
            orphan = depth == 0 and text(span.get("parent_id")) not in ROOT_PARENTS
            order.append((depth, span, orphan))
            stack += [(depth + 1, child) for child in sorted(children.get(key, []), key=start,
                                                             reverse=True)]
        pending = [span for span in spans if str(span.get("span_id")) not in seen][:1]
        if not pending:
            return order


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
