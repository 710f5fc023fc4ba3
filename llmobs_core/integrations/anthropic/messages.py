"""Anthropic Messages (`client.messages.create`, `stream=True`, and the `messages.stream`
helper): the system prompt first, then one message per content block (text, thinking,
tool_use, tool_result), as Datadog's SDK records them."""

from __future__ import annotations

from typing import Any

from ..._adapter import LLMObsSpan, active_tracer, instrumented_proxy_urls, start_span
from .._calls import Call
from .._values import get, json_value, proxy_match, set_metadata, text_of, tool_definitions

# (substring of the base URL, model_provider), checked in this order; else "unknown".
PROVIDERS = (("bedrock", "amazon"), ("google", "google"), ("anthropic", "anthropic"))
METADATA_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "stop_sequences",
                 "tool_choice", "thinking")


def open_create(resource: Any, kwargs: dict[str, Any]) -> MessageCall | None:
    if active_tracer() is None:
        return None
    client = getattr(resource, "_client", None)
    base_url = str(getattr(client, "base_url", "") or "")
    proxy = proxy_match(base_url, instrumented_proxy_urls())
    kind_of_client = type(client).__name__  # AnthropicBedrock, AnthropicVertex
    lowered = base_url.lower() + (" bedrock" if "Bedrock" in kind_of_client else "") + (
        " google" if "Vertex" in kind_of_client else "")
    provider = next((name for needle, name in PROVIDERS if needle in lowered), "unknown")
    model = get(kwargs, "model")
    span = start_span("workflow" if proxy else "llm", "anthropic.request",
                      model_name=model if isinstance(model, str) else None,
                      model_provider=provider)
    if not isinstance(span, LLMObsSpan):
        return None
    span.input = input_messages(get(kwargs, "system"), get(kwargs, "messages"))
    set_metadata(span, metadata_of(kwargs))
    span.tool_definitions = tool_definitions(get(kwargs, "tools"))
    return MessageCall(span, kwargs, proxy)


def metadata_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The allow-listed options, read from the arguments or, for those the client version has
    no parameter for (temperature in anthropic 2.x), from extra_body. Zero values are kept."""
    extra = get(kwargs, "extra_body")
    metadata = {}
    for key in METADATA_KEYS:
        value = get(kwargs, key)
        if value is None and isinstance(extra, dict):
            value = extra.get(key)
        if value is not None:
            metadata[key] = value
    return metadata


def input_messages(system: Any, messages: Any) -> list[dict[str, Any]]:
    shaped: list[dict[str, Any]] = []
    if isinstance(system, str):
        if system:
            shaped.append({"role": "system", "content": system})
    elif system is not None:
        shaped.extend({"role": "system", "content": text_of(block)} for block in system)
    for message in messages or ():
        shaped.extend(block_messages(get(message, "role") or "user", get(message, "content")))
    return shaped


def block_messages(role: str, content: Any) -> list[dict[str, Any]]:
    """One message per content block; a plain string is one message."""
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    return [_block_message(role, block) for block in content or ()]


def _block_message(role: str, block: Any) -> dict[str, Any]:
    kind = get(block, "type") or ""
    if kind == "text":
        return {"role": role, "content": get(block, "text") or ""}
    if kind == "thinking":
        return {"role": "reasoning", "content": get(block, "thinking") or ""}
    if kind.endswith("tool_use"):
        return {"role": role, "content": "", "tool_calls": [{
            "name": get(block, "name") or "", "arguments": get(block, "input"),
            "tool_id": get(block, "id") or "", "type": "tool_use"}]}
    if kind.endswith("tool_result"):
        result = get(block, "content")
        return {"role": "user", "content": "", "tool_results": [{
            "result": result if isinstance(result, str) else text_of(result, ","),
            "tool_id": get(block, "tool_use_id") or "", "type": "tool_result"}]}
    return {"role": role, "content": f"[{kind or type(block).__name__}]"}


def usage_metrics(usage: Any) -> dict[str, Any]:
    """Input tokens include cache reads and writes (what the prompt cost in all), as in
    Datadog's SDK; the cache counts are also given on their own."""
    uncached = get(usage, "input_tokens")
    read = get(usage, "cache_read_input_tokens")
    written = get(usage, "cache_creation_input_tokens")
    output = get(usage, "output_tokens")
    metrics: dict[str, Any] = {"output_tokens": output}
    if isinstance(uncached, int):
        metrics["input_tokens"] = uncached + (read or 0) + (written or 0)
        if isinstance(output, int):
            metrics["total_tokens"] = metrics["input_tokens"] + output
    if read is not None:
        metrics["cache_read_input_tokens"] = read
    if written is not None:
        metrics["cache_write_input_tokens"] = written
        creation = get(usage, "cache_creation")
        for key in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"):
            metrics[key] = get(creation, key) or 0
    return metrics


class MessageCall(Call):
    place = "anthropic.messages"

    def __init__(self, span: Any, kwargs: dict[str, Any], proxy: bool) -> None:
        super().__init__(span, kwargs, proxy)
        self.model: Any = None
        self.usage: dict[str, Any] = {}
        self.stop_reason: Any = None
        self.blocks: dict[int, dict[str, Any]] = {}

    def read_response(self, response: Any) -> None:
        self.finish(get(response, "model"), get(response, "content"),
                    get(response, "stop_reason"), get(response, "usage"))

    def finish(self, model: Any, blocks: Any, stop_reason: Any, usage: Any) -> None:
        if isinstance(model, str) and model and not self.proxy:
            self.span.model_name = model
        self.span.output = block_messages("assistant", blocks)
        if stop_reason:
            set_metadata(self.span, {"finish_reason": stop_reason})
        if usage:
            self.metrics(usage_metrics(usage))

    def take_item(self, event: Any) -> bool:
        kind = get(event, "type")
        if kind == "message_start":
            message = get(event, "message")
            self.model = get(message, "model")
            self.usage.update(_fields(get(message, "usage")))
        elif kind == "content_block_start":
            block = get(event, "content_block")
            self.blocks[get(event, "index", 0)] = {
                "type": get(block, "type"), "text": get(block, "text") or "",
                "thinking": get(block, "thinking") or "", "id": get(block, "id"),
                "name": get(block, "name"), "input": get(block, "input"), "json": []}
        elif kind == "content_block_delta":
            _add_delta(self.blocks.get(get(event, "index", 0)), get(event, "delta"))
        elif kind == "message_delta":
            self.stop_reason = get(get(event, "delta"), "stop_reason") or self.stop_reason
            self.usage.update({k: v for k, v in _fields(get(event, "usage")).items()
                               if v is not None})
        return False

    def read_stream(self) -> None:
        blocks = []
        for _, block in sorted(self.blocks.items()):
            if block["json"]:
                block["input"] = json_value("".join(block["json"]))
            blocks.append(block)
        self.finish(self.model, blocks, self.stop_reason, self.usage)


def _fields(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    keys = ("input_tokens", "output_tokens", "cache_read_input_tokens",
            "cache_creation_input_tokens", "cache_creation")
    return {key: get(usage, key) for key in keys}


def _add_delta(block: dict[str, Any] | None, delta: Any) -> None:
    if block is None or delta is None:
        return
    kind = get(delta, "type")
    if kind == "text_delta":
        block["text"] += get(delta, "text") or ""
    elif kind == "thinking_delta":
        block["thinking"] += get(delta, "thinking") or ""
    elif kind == "input_json_delta":
        block["json"].append(get(delta, "partial_json") or "")
