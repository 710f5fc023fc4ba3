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

from ..store.queries import evaluations_by_span

_PREVIEW_CHARS = 70
_PIPED_WIDTH = 240


# -- drawing ----------------------------------------------------------------------------------

def console() -> Console:
    # Piped output is for reading in full or for grep: no folding at a guessed 80 columns.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=_PIPED_WIDTH if piped else None)


def table(*columns: str) -> Table:
    drawn = Table(header_style="bold", box=None, pad_edge=False)
    for column in columns:
        drawn.add_column(column, no_wrap=True, overflow="ellipsis",
                         min_width=32 if column == "Trace ID" else len(column))
    return drawn


def trace_tree(trace: dict[str, Any]) -> Tree:
    spans = trace["spans"]
    ids = {span["span_id"] for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        if span.get("parent_id") in ids:
            children.setdefault(span["parent_id"], []).append(span)
        else:
            roots.append(span)
    evaluations = evaluations_by_span(trace)
    tree = Tree(Text.assemble(("Trace ", "bold"), (trace["trace_id"], "bold cyan"),
                              f"  {len(spans)} spans"))

    def add(parent: Tree, span: dict[str, Any]) -> None:
        node = parent.add(_span_label(span))
        for metric in evaluations.get(span["span_id"], []):
            node.add(_evaluation_label(metric))
        for child in children.get(span["span_id"], []):
            add(node, child)

    for root in roots:
        add(tree, root)
    return tree


def _span_label(span: dict[str, Any]) -> Text:
    meta = span.get("meta") or {}
    failed = span.get("status") == "error"
    label = Text.assemble(
        (f"{(meta.get('span') or {}).get('kind', '?')} ", "magenta"),
        (span.get("name") or "?", "bold red" if failed else "bold"),
        f"  {duration(span.get('duration'))}  ", status(span.get("status")),
        (f"  {_tag(span, 'ml_app')}", "dim"),
    )
    for prefix, data in (("in", meta.get("input")), ("out", meta.get("output"))):
        if preview := _io_preview(data):
            label.append(f"\n{prefix}: ", "dim").append(preview)
    if error := meta.get("error"):
        message = f"{error.get('type') or 'error'}: {error.get('message') or ''}".rstrip(": ")
        label.append(f"\n{message}", "bold red")
    return label


def _evaluation_label(metric: dict[str, Any]) -> Text:
    label = Text.assemble(("eval ", "yellow"), (str(metric.get("label")), "bold yellow"),
                          f" = {metric_value(metric)}")
    if assessment := metric.get("assessment"):
        label.append(f"  {assessment}", "green" if assessment == "pass" else "red")
    if reasoning := metric.get("reasoning"):
        label.append(f"  {short(reasoning)}", "dim")
    return label


def _io_preview(data: Any) -> str:
    if not data:
        return ""
    if isinstance(data, dict) and data.get("messages"):
        last = data["messages"][-1]
        calls = ", ".join(f"{call.get('name')}({json.dumps(call.get('arguments'))})"
                          for call in last.get("tool_calls") or ())
        return short(f"{last.get('role', '')}: {last.get('content') or ''} {calls}")
    if isinstance(data, dict) and data.get("documents"):
        documents = data["documents"]
        return short(f"{len(documents)} documents: {documents[0].get('text', '')}")
    if isinstance(data, dict) and "value" in data:
        return short(data["value"])
    return short(json.dumps(data, ensure_ascii=False))


def short(value: Any) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS - 1] + "…"


def metric_value(metric: dict[str, Any]) -> str:
    value = metric.get(f"{metric.get('metric_type')}_value")
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


def join_target(metric: dict[str, Any]) -> tuple[str, str]:
    """(trace id, span id) for a metric joined to a span; ("tag key:value", "") for a tag."""
    join_on = metric.get("join_on") or {}
    if span := join_on.get("span"):
        return str(span.get("trace_id")), str(span.get("span_id"))
    tag = join_on.get("tag") or {}
    return f"tag {tag.get('key')}:{tag.get('value')}", ""


def _tag(span: dict[str, Any], key: str) -> str:
    prefix = f"{key}:"
    tags = [tag for tag in span.get("tags") or () if isinstance(tag, str)]
    return next((tag[len(prefix):] for tag in tags if tag.startswith(prefix)), "")


def status(status: str | None) -> Text:
    return Text(status or "?", "bold red" if status == "error" else "green")


def duration(ns: int | None) -> str:
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


def local_time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
