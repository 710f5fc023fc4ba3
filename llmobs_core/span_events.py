"""Turning finished spans into span events (docs/wire-formats.md). Runs on the writer
thread, or in a reader settling the local store's inbox (store/settle.py), never on the
caller's: this is where values are encoded."""

from __future__ import annotations

import json
from typing import Any, Final

from ._values import as_text, repr_or_stand_in
from .sampling import format_rate
from .span import MODEL_KINDS, LLMObsSpan, RareFields, SpanRecord


def _is_primitive(value: Any) -> bool:
    # Identity tests: compiled, they cost a fraction of a frozenset lookup of the type.
    kind = type(value)
    return (kind is str or kind is int or kind is float or kind is bool
            or value is None)


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a dict of arguments, metadata or tool-call data."""
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str or not _is_primitive(v):
                break
        else:
            return value
    try:
        return json.loads(json.dumps(value, default=repr_or_stand_in, ensure_ascii=False,
                                     skipkeys=True))
    except Exception:
        return repr_or_stand_in(value)


def _message(message: Any) -> Any:
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


def _document(document: Any) -> dict[str, Any]:
    return {key: value if key == "score" else as_text(value) for key, value in document.items()}


def _messages(messages: Any) -> list[Any]:
    if type(messages) is tuple:  # annotate() found them all plain {"role", "content"} messages
        return list(messages)
    return [m if len(m) == 2 and type(m.get("content")) is str and type(m.get("role")) is str
            else _message(m) for m in messages]


def _value_or_documents(value: Any, documents: bool) -> dict[str, Any]:
    """A span's input or output other than an llm span's messages: documents (an embedding
    span's input, a retrieval span's output) or text."""
    if documents:
        return {"documents": [_document(d) for d in value]}
    return {"value": value if type(value) is str else as_text(value)}


class EventBuilder:
    """Builds span events for one writer. It caches what repeats from span to span of a trace
    or an application (the trace id's hex form, the leading tags), which halves its cost."""

    _CACHE_MAX = 4096

    def __init__(self, static_tags: list[str]) -> None:
        self.static_tags = static_tags
        self._tag_heads: dict[tuple[str, str | None], list[str]] = {}
        self._hex: dict[int, str] = {}

    def _trace_hex(self, trace_id: Any) -> str:
        text = self._hex.get(trace_id)
        if text is None:
            if len(self._hex) >= self._CACHE_MAX:
                self._hex.clear()
            text = self._hex[trace_id] = "%032x" % trace_id  # noqa: UP031
        return text

    def tag_head(self, ml_app: Any, session_id: Any) -> list[str]:
        """The tags every span of an application (and session) begins with; shared: do not
        change it."""
        head = self._tag_heads.get((ml_app, session_id))
        if head is None:
            if len(self._tag_heads) >= self._CACHE_MAX:
                self._tag_heads.clear()
            # agent_service: ddtrace 4.x's name for ml_app, repeated on every span as it does
            head = ["ml_app:" + ml_app, "agent_service:" + ml_app, *self.static_tags]
            if session_id:
                head.append("session_id:" + session_id)
            head.append("error:0")  # the common case's last tag; an error span replaces it
            self._tag_heads[(ml_app, session_id)] = head
        return head

    def tags(self, head: list[str], error: Any, span_tags: Any) -> list[str]:
        """A span's tags, beginning with tag_head()'s: the error tags in place of "error:0",
        then the span's own."""
        if error is None:
            tags = head.copy()
        else:
            tags = head[:-1]
            tags.append("error:1")
            tags.append("error_type:" + error[0])
        if span_tags:
            if type(span_tags) is tuple:  # an adapter's keys and values, in turn
                for index in range(0, len(span_tags), 2):
                    tags.append(f"{span_tags[index]}:{span_tags[index + 1]}")
            else:
                for key, value in span_tags.items():  # a comprehension would cost a frame
                    tags.append(f"{key}:{value}")
        return tags

    def trace_hex(self, trace_id: Any, parent_id: Any) -> str:
        """The trace id's 32 hex digits, kept for the spans to come of a trace that has more
        than its root (the root ends after its children)."""
        trace_hex = self._hex.get(trace_id)
        if trace_hex is None:
            trace_hex = "%032x" % trace_id  # noqa: UP031 (half the cost of a format spec)
            if parent_id is not None:
                if len(self._hex) >= self._CACHE_MAX:
                    self._hex.clear()
                self._hex[trace_id] = trace_hex
        return trace_hex

    def build(self, span: LLMObsSpan | SpanRecord) -> dict[str, Any]:
        """The span event of a finished span's record (or of a span); see RECORD_FIELDS."""
        return self.event(span.record() if isinstance(span, LLMObsSpan) else span)

    def event(self, record: SpanRecord, fresh: bool = True) -> dict[str, Any]:
        """The span event of a record. With fresh=False, for an encoder that only reads it
        (export/_span_json.py), the tags list and the meta of a span with nothing but its kind
        are shared with other events: do not change them."""
        (kind, name, trace_id, span_id, parent_id, apm_trace_id, ml_app, session_id, model_name,
         model_provider, start_ns, duration_ns, error, input_value, output_value, metadata,
         metrics, span_tags, rare) = record
        unpacked: RareFields = rare  # typed: the compiled build reads it without an iterator
        tool_definitions, sample_rate, extras, pagent = unpacked
        meta = (event_meta if fresh else shared_meta)(
            kind, model_name, model_provider, error, input_value, output_value, metadata,
            tool_definitions, extras, pagent)
        head = self._tag_heads.get((ml_app, session_id)) or self.tag_head(ml_app, session_id)
        if error is None and not span_tags:
            tags = head.copy() if fresh else head
        else:
            tags = self.tags(head, error, span_tags)
        trace_hex = self._hex.get(trace_id) or self.trace_hex(trace_id, parent_id)
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


def plain_metadata(metadata: Any) -> Any:
    """A span's metadata as its event's meta holds it: a JSON-safe dict."""
    metadata = _plain(metadata)
    return metadata if type(metadata) is dict else {"value": metadata}


def event_meta(kind: Any, model_name: Any, model_provider: Any, error: Any, input_value: Any,
               output_value: Any, metadata: Any, tool_definitions: Any, extras: Any,
               pagent: Any) -> dict[str, Any]:
    """A span event's "meta" (docs/wire-formats.md), from the fields of its record (Any: a
    span's fields can be set to anything, and the compiled build checks annotations)."""
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
            meta["input"] = _value_or_documents(input_value, kind == "embedding")
        if output_value is not None:
            meta["output"] = _value_or_documents(output_value, kind == "retrieval")
    if metadata:
        meta["metadata"] = plain_metadata(metadata)
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
    if error is not None:
        meta["error"] = {"type": error[0], "message": error[1], "stack": error[2]}
    return meta


# The meta of spans with nothing but their kind (a workflow or task left unannotated), shared.
_KIND_ONLY: Final[dict[str, dict[str, Any]]] = {}


def shared_meta(kind: Any, model_name: Any, model_provider: Any, error: Any, input_value: Any,
                output_value: Any, metadata: Any, tool_definitions: Any, extras: Any,
                pagent: Any) -> dict[str, Any]:
    """event_meta(), for encoders that only read it: the same dict for every span with
    nothing but its kind, so do not change it."""
    if (input_value is None and output_value is None and not metadata and not extras
            and pagent is None and error is None and kind not in MODEL_KINDS):
        meta = _KIND_ONLY.get(kind)
        if meta is None:
            if len(_KIND_ONLY) >= 64:  # kinds are a few names; a bound all the same
                _KIND_ONLY.clear()
            meta = _KIND_ONLY[kind] = {"span": {"kind": kind}}
        return meta
    return event_meta(kind, model_name, model_provider, error, input_value, output_value,
                      metadata, tool_definitions, extras, pagent)
