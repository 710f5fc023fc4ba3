"""Drawing for the `llmobs` command: rich tables and the span tree, durations, previews."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..store.codec import ROOT_PARENTS, integer
from ..store.queries import evaluations_by_span
from .literal import literal, visible

_PREVIEW_CHARS = 70
_PIPED_WIDTH = 240
MAX_DEPTH = 40  # deeper spans are drawn at this depth, each marked with its own


# -- drawing ----------------------------------------------------------------------------------

def console() -> Console:
    # Piped output is for reading in full or for grep: no folding at a guessed 80 columns.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    # No markup, emoji codes or highlighting: stored text is drawn as it is (see literal.py).
    return Console(highlight=False, markup=False, emoji=False,
                   width=_PIPED_WIDTH if piped else None)


def table(*columns: str) -> Table:
    drawn = Table(header_style="bold", box=None, pad_edge=False)
    for column in columns:
        drawn.add_column(column, no_wrap=True, overflow="ellipsis",
                         min_width=32 if column == "Trace ID" else len(column))
    return drawn


def trace_tree(trace: dict[str, Any]) -> Tree:
    """The spans under their parents, drawn without recursion. A span more than MAX_DEPTH
    levels down is drawn at that depth with its own depth in front, and the title says so."""
    spans = trace["spans"]
    ids = {str(span.get("span_id")) for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        parent_id = str(span.get("parent_id"))
        if parent_id in ids and parent_id != str(span.get("span_id")):
            children.setdefault(parent_id, []).append(span)
        else:
            roots.append(span)
    evaluations = evaluations_by_span(trace)
    title = Text.assemble(("Trace ", "bold"), literal(trace["trace_id"], "bold cyan"),
                          f"  {len(spans)} span{'' if len(spans) == 1 else 's'}")
    tree = Tree(title)
    drawn: set[str] = set()
    capped, missing = False, 0
    while roots:
        stack = [(tree, root, 1) for root in reversed(roots)]
        while stack:
            parent, span, depth = stack.pop()
            span_id = str(span.get("span_id"))
            if span_id in drawn:
                continue
            drawn.add(span_id)
            parent_id = span.get("parent_id")
            orphan = depth == 1 and parent_id not in ROOT_PARENTS and str(parent_id) not in ids
            missing += orphan
            label = _span_label(span, orphan)
            if depth > MAX_DEPTH:
                capped = True
                label = Text.assemble((f"[depth {depth}] ", "dim"), label)
            node = parent.add(label)
            for metric in evaluations.get(span_id, []):
                node.add(_evaluation_label(metric))
            below = node if depth < MAX_DEPTH else parent
            stack.extend((below, child, depth + 1) for child in reversed(children.get(span_id, [])))
        # Spans whose parents form a cycle hang from no root: draw them from the first one.
        roots = [span for span in spans if str(span.get("span_id")) not in drawn][:1]
    if missing:
        title.append(f"  ({missing} span{'s' * (missing > 1)} whose parent is not in this store:"
                     " another process may write to another store, or has not flushed yet)",
                     "yellow")
    if capped:
        title.append(f"  (spans deeper than {MAX_DEPTH} levels are drawn at level {MAX_DEPTH},"
                     " marked with their depth)", "dim")
    return tree


def _span_label(span: dict[str, Any], missing_parent: bool = False) -> Text:
    meta = _mapping(span.get("meta"))
    failed = span.get("status") == "error"
    kind = _mapping(meta.get("span")).get("kind", "?")
    label = Text.assemble(
        literal(f"{kind} ", "magenta"),
        literal(span.get("name") or "?", "bold red" if failed else "bold"),
        f"  {duration(span.get('duration'))}  ", status(span.get("status")),
        literal(f"  {_tag(span, 'ml_app')}", "dim"),
    )
    if missing_parent:
        label.append(f"  (parent span {visible(span.get('parent_id'))} is not in this store)",
                     "yellow")
    if kind in ("llm", "embedding"):
        _model_line(label, meta)
    _detail_lines(label, span, meta)
    for prefix, data in (("in", meta.get("input")), ("out", meta.get("output"))):
        if preview := _io_preview(data):
            label.append(f"\n{prefix}: ", "dim").append(literal(preview))
    if error := _mapping(meta.get("error")):
        message = f"{error.get('type') or 'error'}: {error.get('message') or ''}".rstrip(": ")
        label.append("\n").append(literal(short(message), "bold red"))
    return label


_USUAL_TAGS = ("ml_app", "agent_service", "service", "env", "version", "language", "error",
               "session_id", "ddtrace.version", "source")


def _model_line(label: Text, meta: dict[str, Any]) -> None:
    model = meta.get("model_name")
    if model:
        provider = meta.get("model_provider")
        label.append("\nmodel: ", "dim").append(literal(model, "cyan"))
        if provider:
            label.append(" (").append(literal(provider)).append(")")


def _detail_lines(label: Text, span: dict[str, Any], meta: dict[str, Any]) -> None:
    """Metrics (token counts, mostly), metadata and the span's own tags, of any kind of span:
    a request span's http tags, a workflow's metadata."""
    metrics = _mapping(span.get("metrics"))
    if metrics:
        shown = "  ".join(f"{key.removesuffix('_tokens') if key.endswith('_tokens') else key}"
                          f"={value}" for key, value in metrics.items())
        label.append("\nmetrics: ", "dim").append(literal(short(shown)))
    if metadata := meta.get("metadata"):
        label.append("\nmetadata: ", "dim").append(literal(short(_json(metadata))))
    own = [tag for tag in _sequence(span.get("tags"))
           if isinstance(tag, str) and tag.partition(":")[0] not in _USUAL_TAGS]
    if own:
        label.append("\ntags: ", "dim").append(literal(_tag_list(own)))


def _tag_list(tags: list[str]) -> str:
    """Each tag shortened on its own, as many as fit in three previews' width: a long first tag
    must not hide the http.status_code after it."""
    shown: list[str] = []
    width = 0
    for index, tag in enumerate(tags):
        tag = short(tag)
        if shown and width + len(tag) > 3 * _PREVIEW_CHARS:
            return " ".join(shown) + f" (+{len(tags) - index} more)"
        shown.append(tag)
        width += len(tag) + 1
    return " ".join(shown)


def _evaluation_label(metric: dict[str, Any]) -> Text:
    label = Text.assemble(("eval ", "yellow"), literal(metric.get("label"), "bold yellow"),
                          " = ", literal(short(metric_value(metric))))
    if assessment := metric.get("assessment"):
        label.append("  ").append(literal(assessment, "green" if assessment == "pass" else "red"))
    if reasoning := metric.get("reasoning"):
        label.append("  ").append(literal(short(reasoning), "dim"))
    return label


def _io_preview(data: Any) -> str:
    if not data:
        return ""
    if isinstance(data, dict) and isinstance(data.get("messages"), list) and data["messages"]:
        last = _mapping(data["messages"][-1])
        calls = ", ".join(f"{_mapping(call).get('name')}({_json(_mapping(call).get('arguments'))})"
                          for call in _sequence(last.get("tool_calls")))
        results = " ".join(str(_mapping(result).get("result") or "")
                           for result in _sequence(last.get("tool_results")))
        role = last.get("role")
        text = " ".join(part for part in (str(last.get("content") or ""), calls, results) if part)
        return short(f"{role}: " * bool(role) + text)
    if isinstance(data, dict) and isinstance(data.get("documents"), list) and data["documents"]:
        documents = data["documents"]
        return short(f"{len(documents)} documents: {_mapping(documents[0]).get('text', '')}")
    if isinstance(data, dict) and "value" in data:
        return short(data["value"])
    return short(_json(data))


def short(value: Any) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS - 1] + "…"


def metric_value(metric: dict[str, Any]) -> str:
    value = metric.get(f"{metric.get('metric_type')}_value")
    return _json(value) if isinstance(value, (dict, list, bool)) else str(value)


def join_target(metric: dict[str, Any]) -> tuple[Text, Text]:
    """(trace id, span id) for a metric joined to a span; ("tag key:value", "") for a tag;
    feedback's own target for feedback ("session_id:..." for a session)."""
    if metric.get("event_kind") == "feedback":
        for key in ("session_id", "feedback_join_key"):
            if key in metric:
                return literal(f"{key}:{metric[key]}"), Text()
        return literal(metric.get("trace_id", "")), literal(metric.get("span_id", ""))
    join_on = _mapping(metric.get("join_on"))
    if span := _mapping(join_on.get("span")):
        return literal(span.get("trace_id")), literal(span.get("span_id"))
    tag = _mapping(join_on.get("tag"))
    return literal(f"tag {tag.get('key')}:{tag.get('value')}"), Text()


def _tag(span: dict[str, Any], key: str) -> str:
    prefix = f"{key}:"
    tags = [tag for tag in _sequence(span.get("tags")) if isinstance(tag, str)]
    return next((tag[len(prefix):] for tag in tags if tag.startswith(prefix)), "")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, TypeError, ValueError):  # nested too deep to encode
        return "…"


def status(status: Any) -> Text:
    return literal(status or "?", "bold red" if status == "error" else "green")


def duration(ns: Any) -> str:
    ns = integer(ns)
    if ns is None:
        return "?"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    if ns < 60 * 1_000_000_000:
        return f"{ns / 1e9:.2f}s"
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    return f"{minutes}m{seconds:02d}s"


def local_time(ns: Any) -> str:
    try:
        return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"
