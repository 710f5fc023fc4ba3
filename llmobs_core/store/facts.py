"""Facts the viewer and the command read off decoded spans: model, tokens, the text of inputs
and outputs, a trace's root and the spans that carry its input and output."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .codec import integer, kind_of, text

TOKEN_KINDS = ("llm", "embedding")
Spans = list[tuple[int, dict[str, Any]]]  # (start_ns, span) in stored order


def meta_of(span: dict[str, Any]) -> dict[str, Any]:
    meta = span.get("meta")
    return meta if isinstance(meta, dict) else {}


def model_of(span: dict[str, Any]) -> str | None:
    return text(meta_of(span).get("model_name"))


def tokens_of(span: dict[str, Any]) -> int:
    metrics = span.get("metrics")
    if not isinstance(metrics, dict):
        return 0
    total = integer(metrics.get("total_tokens"))
    if total is None:
        total = (integer(metrics.get("input_tokens")) or 0) + (
            integer(metrics.get("output_tokens")) or 0)
    return total


def trace_tokens(spans: Iterable[dict[str, Any]]) -> int:
    """Tokens of the llm and embedding spans (a workflow's own metrics would count twice)."""
    return sum(tokens_of(span) for span in spans if kind_of(span) in TOKEN_KINDS)


def io_text(span: dict[str, Any]) -> str:
    """A span's input and output as one searchable string: every value in them (message
    contents and roles, document texts, tool calls, plain values), one to a line; keys and
    JSON quoting are not part of it."""
    meta = meta_of(span)
    found: list[str] = []
    stack = [meta.get("output"), meta.get("input")]
    while stack:
        value = stack.pop()
        if type(value) is str:
            found.append(value)
        elif isinstance(value, dict):
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
        elif value is not None:
            found.append(str(value))
    return "\n".join(found)


def evaluation_value(metric: dict[str, Any]) -> Any:
    kind = metric.get("metric_type")
    return metric.get(f"{kind}_value") if isinstance(kind, str) else None


def root_of(spans: Spans) -> dict[str, Any]:
    """The earliest span whose parent is not in the trace."""
    ids = {str(span.get("span_id")) for _, span in spans}
    parentless = [(start, span) for start, span in spans
                  if str(span.get("parent_id")) not in ids]
    return min(parentless or spans, key=lambda pair: pair[0])[1]


def io_span(spans: Spans, side: str) -> dict[str, Any]:
    """The root when it has this side ("input" or "output"), else the earliest span that
    has it."""
    root = root_of(spans)
    if meta_of(root).get(side):
        return root
    having = [(start, span) for start, span in spans if meta_of(span).get(side)]
    return min(having, key=lambda pair: pair[0])[1] if having else root
