"""Span events (docs/wire-formats.md) as OpenTelemetry attributes: the GenAI semantic
conventions (gen_ai.*) for model calls, OpenInference's (openinference.span.kind,
input.value, llm.*) so Arize Phoenix and similar tools classify spans, and llmobs.* for what
neither names. No OpenTelemetry import here: plain dicts of attribute values."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Final

Attributes = dict[str, Any]

# Final: the compiled build (setup.py) reads these from C statics, not the module's dict.
OPENINFERENCE_KINDS: Final = {
    "llm": "LLM", "embedding": "EMBEDDING", "retrieval": "RETRIEVER", "tool": "TOOL",
    "agent": "AGENT", "workflow": "CHAIN", "task": "CHAIN"}
GEN_AI_OPERATIONS: Final = {
    "llm": "chat", "embedding": "embeddings", "retrieval": "retrieval", "tool": "execute_tool",
    "agent": "invoke_agent", "workflow": "invoke_workflow"}
_NAME_ATTRIBUTE: Final = {"tool": ("gen_ai.tool.name", "tool.name"),
                          "agent": ("gen_ai.agent.name",), "workflow": ("gen_ai.workflow.name",)}
# metric key -> (GenAI semantic convention name, OpenInference name)
_METRICS: Final = {
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


# Final: read from C statics when compiled (a global looked up at each of a span's few calls).
_DUMPS: Final = None if orjson is None else orjson.dumps
_NON_STR_KEYS: Final = 0 if orjson is None else orjson.OPT_NON_STR_KEYS
_REPR: Final = repr


def _json(value: Any) -> str:
    if _DUMPS is not None:
        try:  # without OPT_NON_STR_KEYS, which costs a third more, unless a key needs it
            return _DUMPS(value, default=_REPR).decode()
        except TypeError:
            try:
                return _DUMPS(value, default=_REPR, option=_NON_STR_KEYS).decode()
            except TypeError:  # what orjson refuses (a lone surrogate, a huge int) json takes
                pass
    return json.dumps(value, ensure_ascii=False, default=repr)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def span_attributes(event: dict[str, Any]) -> Attributes:
    """The attributes of one span event (its ids, times and status are mapped elsewhere)."""
    return {**fixed_attributes(fixed_key(event)), **varying_attributes(event)}


FixedKey = tuple[Any, ...]
_NO_MODEL: Final = object()  # in a FixedKey: the event has no model_name


def fixed_key(event: dict[str, Any]) -> FixedKey:
    """What fixed_attributes() reads of a span event: its kind, its name where an attribute
    names it, its tags, its model and provider. Spans of one application mostly share it."""
    meta = event.get("meta") or {}
    kind = meta.get("span", {}).get("kind", "task")
    return key_of(kind, event.get("name", ""), event.get("tags"), meta)


def key_of(kind: str, name: str, tags: Any, meta: dict[str, Any]) -> FixedKey:
    """fixed_key() of an event of this kind, name, tags and meta."""
    return (kind, name if kind in _NAME_ATTRIBUTE else None, tuple(tags) if tags else (),
            meta.get("model_name", _NO_MODEL), meta.get("model_provider"))


def fixed_attributes(key: FixedKey) -> Attributes:
    """The attributes that follow from a span's fixed_key(): the same dict for the same key
    (do not change it), so that a sink can encode them once."""
    try:
        return _fixed_attributes(key)
    except TypeError:  # a span processor's unhashable tag or model
        return _fixed_attributes.__wrapped__(key)


@lru_cache(maxsize=4096)
def _fixed_attributes(key: FixedKey) -> Attributes:
    kind, name, all_tags, model, provider = key
    attributes: Attributes = {"openinference.span.kind": OPENINFERENCE_KINDS.get(kind, "CHAIN"),
                              "llmobs.span.kind": kind}
    if kind in GEN_AI_OPERATIONS:
        attributes["gen_ai.operation.name"] = GEN_AI_OPERATIONS[kind]
    for attribute in _NAME_ATTRIBUTE.get(kind, ()):
        attributes[attribute] = name
    tags = [tag for tag in all_tags if isinstance(tag, str)]
    ml_app = next((tag[7:] for tag in tags if tag.startswith("ml_app:")), None)
    if ml_app:
        attributes["llmobs.ml_app"] = ml_app
    if tags:
        attributes["tag.tags"] = tags
    if model is not _NO_MODEL:
        _model(attributes, kind, model, provider or "custom")
    return attributes


def varying_attributes(event: dict[str, Any]) -> Attributes:
    """The attributes of a span event beside its fixed_attributes()."""
    return attributes_of(event.get("meta") or {}, event.get("session_id"),
                         event.get("metrics"), event.get("collection_errors"))


def attributes_of(meta: dict[str, Any], session_id: Any, metrics: Any,
                  collection_errors: Any = None) -> Attributes:
    """varying_attributes() of an event with this meta, session id, metrics and collection
    errors: what the OTLP sink maps a span's record to without building its event."""
    attributes: Attributes = {}
    if session_id:
        attributes["session.id"] = attributes["gen_ai.conversation.id"] = session_id
    if meta.get("metadata"):
        attributes["metadata"] = _json(meta["metadata"])
    if "input" in meta or "output" in meta:
        _io(attributes, meta.get("span", {}).get("kind", "task"), meta)
    if metrics:
        _metrics(attributes, metrics)
    error = meta.get("error")
    if error:
        attributes["error.type"] = error.get("type") or "error"
    if collection_errors:
        attributes["llmobs.collection_errors"] = list(collection_errors)
    return attributes


def _model(attributes: Attributes, kind: str, model: Any, provider: Any) -> None:
    attributes["gen_ai.request.model"] = model
    attributes["gen_ai.provider.name"] = provider
    attributes["gen_ai.system"] = provider  # the older name, still read by many backends
    if kind == "embedding":
        attributes["embedding.model_name"] = model
    else:
        attributes["llm.model_name"] = model
        attributes["llm.provider"] = provider


# side -> its attributes: value, mime type, GenAI messages, OpenInference messages' prefix
_SIDES: Final = tuple((side, f"{side}.value", f"{side}.mime_type", f"gen_ai.{side}.messages",
                       f"llm.{side}_messages") for side in ("input", "output"))
_KEYED: Final = 32  # messages whose attribute names are made once, in _MESSAGE_KEYS
_MESSAGE_KEYS: Final = {
    prefix: [(f"{prefix}.{i}.message.role", f"{prefix}.{i}.message.content")
             for i in range(_KEYED)] for *_, prefix in _SIDES}


def _io(attributes: Attributes, kind: str, meta: dict[str, Any]) -> None:
    for side, value_key, mime_key, messages_key, prefix in _SIDES:
        data = meta.get(side)
        if not isinstance(data, dict):
            continue
        if "value" in data:
            attributes[value_key] = _text(data["value"])
            attributes[mime_key] = "text/plain"
        elif "messages" in data:
            messages = data["messages"] or []
            attributes[value_key] = _json(messages)
            attributes[mime_key] = "application/json"
            attributes[messages_key] = ""  # its place among the attributes, filled below
            attributes[messages_key] = _json(_messages(attributes, prefix, messages))
        elif "documents" in data:
            documents = data["documents"] or []
            attributes[value_key] = _json(documents)
            attributes[mime_key] = "application/json"
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


def _messages(attributes: Attributes, prefix: str,
              messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set each message's OpenInference attributes; return the messages in the GenAI
    conventions' shape. One pass, as this runs for every llm span."""
    keys = _MESSAGE_KEYS[prefix]
    gen_ai = []
    for i, message in enumerate(messages):
        role_key, content_key = keys[i] if i < _KEYED else (
            f"{prefix}.{i}.message.role", f"{prefix}.{i}.message.content")
        role = message.get("role") or "user"
        content = message.get("content", "")
        attributes[role_key] = role
        attributes[content_key] = content if type(content) is str else _text(content)
        if "tool_calls" in message or "tool_results" in message:
            _tool_calls(attributes, f"{prefix}.{i}.message", message)
            gen_ai.append(_gen_ai_message(message))
        else:
            gen_ai.append({"role": role, "parts": [{"type": "text", "content": content}]
                           if content else []})
    return gen_ai


def _tool_calls(attributes: Attributes, base: str, message: dict[str, Any]) -> None:
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


# metric key -> (its attribute names, whether it is a count of tokens, written as an int)
_METRIC_NAMES: Final = {key: (tuple(name for name in names if name), key.endswith("_tokens"))
                        for key, names in _METRICS.items()}


def _metrics(attributes: Attributes, metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        kind = type(value)
        if kind is not int and kind is not float and (
                not isinstance(value, (int, float)) or isinstance(value, bool)):
            continue
        known = _METRIC_NAMES.get(key)
        if known is None:
            attributes[f"llmobs.metrics.{key}"] = value
            continue
        names, tokens = known
        if tokens and kind is not int:
            value = int(value)
        for name in names:
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
