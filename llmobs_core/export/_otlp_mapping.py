"""Span events (docs/wire-formats.md) as OpenTelemetry attributes: the GenAI semantic
conventions (gen_ai.*) for model calls, OpenInference's (openinference.span.kind,
input.value, llm.*) so Arize Phoenix and similar tools classify spans, and llmobs.* for what
neither names. No OpenTelemetry import here: plain dicts of attribute values."""

from __future__ import annotations

import json
from typing import Any

Attributes = dict[str, Any]

OPENINFERENCE_KINDS = {"llm": "LLM", "embedding": "EMBEDDING", "retrieval": "RETRIEVER",
                       "tool": "TOOL", "agent": "AGENT", "workflow": "CHAIN", "task": "CHAIN"}
GEN_AI_OPERATIONS = {"llm": "chat", "embedding": "embeddings", "retrieval": "retrieval",
                     "tool": "execute_tool", "agent": "invoke_agent",
                     "workflow": "invoke_workflow"}
_NAME_ATTRIBUTE = {"tool": ("gen_ai.tool.name", "tool.name"), "agent": ("gen_ai.agent.name",),
                   "workflow": ("gen_ai.workflow.name",)}
# metric key -> (GenAI semantic convention name, OpenInference name)
_METRICS = {
    "input_tokens": ("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
    "output_tokens": ("gen_ai.usage.output_tokens", "llm.token_count.completion"),
    "total_tokens": (None, "llm.token_count.total"),
    "cache_read_input_tokens": ("gen_ai.usage.cache_read.input_tokens",
                                "llm.token_count.prompt_details.cache_read"),
    "cache_write_input_tokens": ("gen_ai.usage.cache_creation.input_tokens",
                                 "llm.token_count.prompt_details.cache_write"),
    "reasoning_output_tokens": ("gen_ai.usage.reasoning.output_tokens",
                                "llm.token_count.completion_details.reasoning"),
    "time_to_first_token": ("gen_ai.response.time_to_first_chunk", None),
    "input_cost": (None, "llm.cost.prompt"),
    "output_cost": (None, "llm.cost.completion"),
    "total_cost": (None, "llm.cost.total"),
}


try:
    import orjson
except ImportError:  # a core dependency; without it the standard library's json is used
    orjson = None  # type: ignore[assignment]


def _json(value: Any) -> str:
    if orjson is not None:
        try:
            return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (a lone surrogate, a huge int) json may take
            pass
    return json.dumps(value, ensure_ascii=False, default=repr)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def span_attributes(event: dict[str, Any]) -> Attributes:
    """The attributes of one span event (its ids, times and status are mapped elsewhere)."""
    meta = event.get("meta") or {}
    kind = meta.get("span", {}).get("kind", "task")
    attributes: Attributes = {"openinference.span.kind": OPENINFERENCE_KINDS.get(kind, "CHAIN"),
                              "llmobs.span.kind": kind}
    if kind in GEN_AI_OPERATIONS:
        attributes["gen_ai.operation.name"] = GEN_AI_OPERATIONS[kind]
    for name in _NAME_ATTRIBUTE.get(kind, ()):
        attributes[name] = event.get("name", "")
    tags = [tag for tag in event.get("tags") or () if isinstance(tag, str)]
    ml_app = next((tag[7:] for tag in tags if tag.startswith("ml_app:")), None)
    if ml_app:
        attributes["llmobs.ml_app"] = ml_app
    if tags:
        attributes["tag.tags"] = tags
    session_id = event.get("session_id")
    if session_id:
        attributes["session.id"] = attributes["gen_ai.conversation.id"] = session_id
    if meta.get("metadata"):
        attributes["metadata"] = _json(meta["metadata"])
    if "model_name" in meta:
        _model(attributes, kind, meta)
    _io(attributes, kind, meta)
    _metrics(attributes, event.get("metrics") or {})
    error = meta.get("error")
    if error:
        attributes["error.type"] = error.get("type") or "error"
    if event.get("collection_errors"):
        attributes["llmobs.collection_errors"] = list(event["collection_errors"])
    return attributes


def _model(attributes: Attributes, kind: str, meta: dict[str, Any]) -> None:
    model, provider = meta["model_name"], meta.get("model_provider") or "custom"
    attributes["gen_ai.request.model"] = model
    attributes["gen_ai.provider.name"] = provider
    attributes["gen_ai.system"] = provider  # the older name, still read by many backends
    if kind == "embedding":
        attributes["embedding.model_name"] = model
    else:
        attributes["llm.model_name"] = model
        attributes["llm.provider"] = provider


def _io(attributes: Attributes, kind: str, meta: dict[str, Any]) -> None:
    for side in ("input", "output"):
        data = meta.get(side)
        if not isinstance(data, dict):
            continue
        if "value" in data:
            attributes[f"{side}.value"] = _text(data["value"])
            attributes[f"{side}.mime_type"] = "text/plain"
        elif "messages" in data:
            messages = data["messages"] or []
            attributes[f"{side}.value"] = _json(messages)
            attributes[f"{side}.mime_type"] = "application/json"
            attributes[f"gen_ai.{side}.messages"] = _json([_gen_ai_message(m) for m in messages])
            _openinference_messages(attributes, f"llm.{side}_messages", messages)
        elif "documents" in data:
            documents = data["documents"] or []
            attributes[f"{side}.value"] = _json(documents)
            attributes[f"{side}.mime_type"] = "application/json"
            _documents(attributes, kind, documents)


def _gen_ai_message(message: dict[str, Any]) -> dict[str, Any]:
    """A message in the GenAI conventions' shape: {role, parts: [{type, ...}]}."""
    parts: list[dict[str, Any]] = []
    if message.get("content"):
        parts.append({"type": "text", "content": message["content"]})
    for call in message.get("tool_calls") or ():
        parts.append({"type": "tool_call", "id": call.get("tool_id"), "name": call.get("name"),
                      "arguments": call.get("arguments")})
    for result in message.get("tool_results") or ():
        parts.append({"type": "tool_call_response", "id": result.get("tool_id"),
                      "response": result.get("result")})
    return {"role": message.get("role") or "user", "parts": parts}


def _openinference_messages(attributes: Attributes, prefix: str,
                            messages: list[dict[str, Any]]) -> None:
    for i, message in enumerate(messages):
        base = f"{prefix}.{i}.message"
        attributes[f"{base}.role"] = message.get("role") or "user"
        attributes[f"{base}.content"] = _text(message.get("content", ""))
        for j, call in enumerate(message.get("tool_calls") or ()):
            call_base = f"{base}.tool_calls.{j}.tool_call"
            attributes[f"{call_base}.function.name"] = _text(call.get("name", ""))
            attributes[f"{call_base}.function.arguments"] = _text(call.get("arguments", {}))
            if call.get("tool_id"):
                attributes[f"{call_base}.id"] = _text(call["tool_id"])
        results = message.get("tool_results") or ()
        if results and results[0].get("tool_id"):
            attributes[f"{base}.tool_call_id"] = _text(results[0]["tool_id"])


def _documents(attributes: Attributes, kind: str, documents: list[dict[str, Any]]) -> None:
    for i, document in enumerate(documents):
        if kind == "embedding":
            attributes[f"embedding.embeddings.{i}.embedding.text"] = _text(
                document.get("text", ""))
            continue
        base = f"retrieval.documents.{i}.document"
        attributes[f"{base}.content"] = _text(document.get("text", ""))
        if document.get("id") is not None:
            attributes[f"{base}.id"] = _text(document["id"])
        if isinstance(document.get("score"), (int, float)):
            attributes[f"{base}.score"] = float(document["score"])
        if document.get("name") is not None:
            attributes[f"{base}.metadata"] = _json({"name": document["name"]})


def _metrics(attributes: Attributes, metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        names = _METRICS.get(key)
        if names is None:
            attributes[f"llmobs.metrics.{key}"] = value
            continue
        if key.endswith("_tokens"):
            value = int(value)
        for name in names:
            if name:
                attributes[name] = value


def evaluation_attributes(metric: dict[str, Any]) -> Attributes:
    """An evaluation, sent as an EVALUATOR span under the span it judges."""
    metric_type = metric.get("metric_type")
    value = metric.get(f"{metric_type}_value")
    attributes: Attributes = {
        "openinference.span.kind": "EVALUATOR",
        "gen_ai.evaluation.name": metric.get("label", ""),
        "llmobs.evaluation.metric_type": metric_type or "",
        "llmobs.ml_app": metric.get("ml_app", ""),
        "tag.tags": [t for t in metric.get("tags") or () if isinstance(t, str)],
    }
    if metric_type == "score":
        attributes["gen_ai.evaluation.score.value"] = float(value)  # type: ignore[arg-type]
    elif metric_type == "json":
        attributes["output.value"] = _json(value)
        attributes["output.mime_type"] = "application/json"
    else:  # categorical and boolean values are labels ("true" / "false" for booleans)
        attributes["gen_ai.evaluation.score.label"] = _text(value) if isinstance(
            value, str) else _json(value)
    if metric.get("assessment"):
        attributes["llmobs.evaluation.assessment"] = metric["assessment"]
    if metric.get("reasoning"):
        attributes["gen_ai.evaluation.explanation"] = metric["reasoning"]
    return attributes
