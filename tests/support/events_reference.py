"""EventBuilder as it was before the Datadog and OTLP sinks read records (llmobs_core/export/
events.py at commit 2645acd, unchanged below this docstring but for absolute imports): what
tests/export/test_span_json.py holds today's build() and encoders to."""

from __future__ import annotations

import json
from typing import Any

from llmobs_core._values import as_text, repr_or_stand_in
from llmobs_core.sampling import format_rate
from llmobs_core.span import MODEL_KINDS, LLMObsSpan, SpanRecord

_PRIMITIVES = frozenset((str, int, float, bool, type(None)))


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a dict of arguments, metadata or tool-call data."""
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str or type(v) not in _PRIMITIVES:
                break
        else:
            return value
    try:
        return json.loads(json.dumps(value, default=repr_or_stand_in, ensure_ascii=False,
                                     skipkeys=True))
    except Exception:
        return repr_or_stand_in(value)


def _message(message: dict[str, Any]) -> dict[str, Any]:
    # Messages were copied into new dicts by annotate(); the common one is reused as it is.
    content = message.get("content")
    if type(content) is str and "tool_calls" not in message and "tool_results" not in message:
        return message
    out: dict[str, Any] = {"content": "" if content is None else as_text(content)}
    if "role" in message:
        out["role"] = message["role"]
    for key in ("tool_calls", "tool_results"):
        if key in message:
            out[key] = _plain(message[key])
    return out


def _document(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value if key == "score" else as_text(value) for key, value in document.items()}


def _messages(messages: Any) -> list[dict[str, Any]]:
    if type(messages) is tuple:  # annotate() found them all plain {"role", "content"} messages
        return list(messages)
    return [m if len(m) == 2 and type(m.get("content")) is str and type(m.get("role")) is str
            else _message(m) for m in messages]


def _input(kind: str, value: Any) -> dict[str, Any]:
    if kind == "llm":
        return {"messages": _messages(value)}
    if kind == "embedding":
        return {"documents": [_document(d) for d in value]}
    return {"value": value if type(value) is str else as_text(value)}


def _output(kind: str, value: Any) -> dict[str, Any]:
    if kind == "llm":
        return {"messages": _messages(value)}
    if kind == "retrieval":
        return {"documents": [_document(d) for d in value]}
    return {"value": value if type(value) is str else as_text(value)}


class EventBuilder:
    """Builds span events for one writer. It caches what repeats from span to span of a trace
    or an application (the trace id's hex form, the leading tags), which halves its cost."""

    _CACHE_MAX = 4096

    def __init__(self, static_tags: list[str]) -> None:
        self._static_tags = static_tags
        self._tag_heads: dict[tuple[str, str | None], list[str]] = {}
        self._hex: dict[int, str] = {}

    def _trace_hex(self, trace_id: int) -> str:
        text = self._hex.get(trace_id)
        if text is None:
            if len(self._hex) >= self._CACHE_MAX:
                self._hex.clear()
            text = self._hex[trace_id] = f"{trace_id:032x}"
        return text

    def _tag_head(self, ml_app: str, session_id: str | None) -> list[str]:
        head = self._tag_heads.get((ml_app, session_id))
        if head is None:
            if len(self._tag_heads) >= self._CACHE_MAX:
                self._tag_heads.clear()
            # agent_service: ddtrace 4.x's name for ml_app, repeated on every span as it does
            head = ["ml_app:" + ml_app, "agent_service:" + ml_app, *self._static_tags]
            if session_id:
                head.append("session_id:" + session_id)
            head.append("error:0")  # the common case's last tag; an error span replaces it
            self._tag_heads[(ml_app, session_id)] = head
        return head

    def build(self, span: LLMObsSpan | SpanRecord) -> dict[str, Any]:
        """The span event of a finished span's record (or of a span); see RECORD_FIELDS."""
        (kind, name, trace_id, span_id, parent_id, apm_trace_id, ml_app, session_id, model_name,
         model_provider, start_ns, duration_ns, error, input_value, output_value, metadata,
         metrics, span_tags, rare) = (
            span.record() if isinstance(span, LLMObsSpan) else span)
        tool_definitions, sample_rate, extras, pagent = rare
        meta: dict[str, Any] = {"span": {"kind": kind}}
        if kind == "llm":  # annotate()'s tuple of plain messages is copied here, without a call
            if input_value is not None:
                meta["input"] = {"messages": list(input_value) if type(input_value) is tuple
                                 else _messages(input_value)}
            if output_value is not None:
                meta["output"] = {"messages": list(output_value) if type(output_value) is tuple
                                  else _messages(output_value)}
        else:
            if input_value is not None:
                meta["input"] = _input(kind, input_value)
            if output_value is not None:
                meta["output"] = _output(kind, output_value)
        if metadata:
            metadata = _plain(metadata)
            meta["metadata"] = metadata if type(metadata) is dict else {"value": metadata}
        if tool_definitions and kind == "llm":
            meta["tool_definitions"] = _plain(tool_definitions)
        if extras:
            if kind == "llm" and "prompt" in extras:
                meta.setdefault("input", {})["prompt"] = extras["prompt"]
            if kind == "tool" and "tool" in extras:
                meta["tool"] = extras["tool"]
        if pagent is not None:  # ddtrace's nearest enclosing agent span
            meta["agent_attribution"] = {
                "pagent_name": pagent[0],
                "pagent_span_id": None if pagent[1] is None else str(pagent[1])}
        if kind in MODEL_KINDS:
            meta["model_name"] = model_name or "custom"
            meta["model_provider"] = (model_provider or "custom").lower()
        head = self._tag_heads.get((ml_app, session_id)) or self._tag_head(ml_app, session_id)
        if error is None:
            tags = head.copy()
        else:
            meta["error"] = {"type": error[0], "message": error[1], "stack": error[2]}
            tags = head[:-1]
            tags.append("error:1")
            tags.append("error_type:" + error[0])
        if span_tags:
            pairs = ([(span_tags[i], span_tags[i + 1]) for i in range(0, len(span_tags), 2)]
                     if type(span_tags) is tuple else span_tags.items())
            tags.extend(f"{key}:{value}" for key, value in pairs)
        trace_hex = self._hex.get(trace_id)
        if trace_hex is None:
            trace_hex = f"{trace_id:032x}"
            if parent_id is not None:  # kept for the root, which ends after its children
                if len(self._hex) >= self._CACHE_MAX:
                    self._hex.clear()
                self._hex[trace_id] = trace_hex
        apm_trace_hex = (trace_hex if apm_trace_id == trace_id
                         else self._trace_hex(apm_trace_id))
        span_id_text = str(span_id)
        event: dict[str, Any] = {
            "trace_id": trace_hex,
            "span_id": span_id_text,
            "parent_id": "undefined" if parent_id is None else str(parent_id),
            "name": name,
            "start_ns": start_ns,
            "duration": duration_ns,
            "status": "ok" if error is None else "error",
            "meta": meta,
            "metrics": metrics or {},
            "tags": tags,
            "_dd": {"span_id": span_id_text, "trace_id": trace_hex, "apm_trace_id": apm_trace_hex,
                    "sample_rate": "1" if sample_rate == 1.0 else format_rate(sample_rate),
                    "sampling_decision": "1"},  # sampled-out spans never get here
        }
        if session_id:
            event["session_id"] = session_id
        return event
