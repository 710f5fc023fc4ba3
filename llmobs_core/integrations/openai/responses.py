"""The Responses API (`client.responses.create` / `parse`, streamed or not): instructions as a
system message, message items, function calls and their outputs as tool calls and results,
reasoning items as reasoning messages."""

from __future__ import annotations

from typing import Any

from .._calls import Call
from .._values import get, json_value, metadata_from, set_metadata, text_of, tool_definitions
from ._span import open_span

METADATA_KEYS = (
    "background", "include", "max_output_tokens", "max_tool_calls", "parallel_tool_calls",
    "previous_response_id", "prompt", "reasoning", "service_tier", "store", "stream",
    "temperature", "text", "tool_choice", "top_logprobs", "top_p", "truncation", "user",
)
# Settings the response echoes back, so the span shows what the model actually used.
ECHOED_KEYS = ("temperature", "max_output_tokens", "top_p", "tool_choice", "truncation",
               "text", "user")
_MAX_ITEM_TEXT = 4096


def open_create(resource: Any, kwargs: dict[str, Any]) -> ResponseCall | None:
    return _open(resource, kwargs, "createResponse")


def open_parse(resource: Any, kwargs: dict[str, Any]) -> ResponseCall | None:
    return _open(resource, kwargs, "parseResponse")


def _open(resource: Any, kwargs: dict[str, Any], operation: str) -> ResponseCall | None:
    opened = open_span(resource, "llm", operation, kwargs)
    if opened is None:
        return None
    span, proxy = opened
    span.input = input_messages(get(kwargs, "instructions"), get(kwargs, "input"))
    set_metadata(span, metadata_from(kwargs, METADATA_KEYS))
    span.tool_definitions = tool_definitions(get(kwargs, "tools"))
    return ResponseCall(span, kwargs, proxy)


def input_messages(instructions: Any, items: Any) -> list[dict[str, Any]]:
    shaped: list[dict[str, Any]] = []
    if isinstance(instructions, str) and instructions:
        shaped.append({"role": "system", "content": instructions})
    if isinstance(items, str):
        shaped.append({"role": "user", "content": items})
        return shaped
    for item in items or ():
        kind = get(item, "type") or "message"
        if kind == "function_call_output":
            shaped.append({"role": "user", "tool_results": [{
                "name": "", "result": text_of(get(item, "output")),
                "tool_id": get(item, "call_id") or "", "type": "function_call_output"}]})
        else:
            shaped.extend(_item_messages(item, kind, get(item, "role") or "user"))
    return shaped


def _item_messages(item: Any, kind: str, role: str) -> list[dict[str, Any]]:
    if kind == "message":
        return [{"role": role, "content": text_of(get(item, "content"), "")}]
    if kind == "function_call":
        return [{"role": "assistant", "tool_calls": [{
            "name": get(item, "name") or "", "arguments": json_value(get(item, "arguments")),
            "tool_id": get(item, "call_id") or "", "type": "function_call"}]}]
    if kind == "reasoning":
        summary = "\n".join(text_of(part) for part in get(item, "summary") or ())
        return [{"role": "reasoning", "content": summary}]
    return [{"role": role, "content": str(item)[:_MAX_ITEM_TEXT]}]


def _plain(value: Any) -> Any:
    """A response's pydantic field as plain values (the writer encodes it later)."""
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True, by_alias=True) if callable(dump) else value


class ResponseCall(Call):
    place = "openai.responses"

    def __init__(self, span: Any, kwargs: dict[str, Any], proxy: bool) -> None:
        super().__init__(span, kwargs, proxy)
        self.final: Any = None
        self.text: list[str] = []

    def read_response(self, response: Any) -> None:
        model = get(response, "model")
        if isinstance(model, str) and model and not self.proxy:
            self.span.model_name = model
        output = []
        for item in get(response, "output") or ():
            output.extend(_item_messages(item, get(item, "type") or "message",
                                         get(item, "role") or "assistant"))
        self.span.output = output
        echoed = {key: _plain(get(response, key)) for key in ECHOED_KEYS
                  if get(response, key) is not None}
        reason = get(get(response, "incomplete_details"), "reason")
        if reason:
            echoed["finish_reason"] = reason
        self.span.metadata = {**(self.span.metadata or {}), **echoed}
        usage = get(response, "usage")
        if usage is not None:
            self.metrics(usage_metrics(usage))

    def take_item(self, event: Any) -> bool:
        kind = get(event, "type")
        if kind == "response.output_text.delta":
            self.text.append(get(event, "delta") or "")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = get(event, "response")
        return False

    def read_stream(self) -> None:
        if self.final is not None:
            self.read_response(self.final)
        elif self.text:
            self.span.output = [{"role": "assistant", "content": "".join(self.text)}]


def usage_metrics(usage: Any) -> dict[str, Any]:
    input_tokens, output_tokens = get(usage, "input_tokens"), get(usage, "output_tokens")
    metrics = {"input_tokens": input_tokens, "output_tokens": output_tokens,
               "total_tokens": get(usage, "total_tokens")}
    cached = get(get(usage, "input_tokens_details"), "cached_tokens")
    if cached is not None:
        metrics["cache_read_input_tokens"] = cached
    reasoning = get(get(usage, "output_tokens_details"), "reasoning_tokens")
    if reasoning is not None:
        metrics["reasoning_output_tokens"] = reasoning
    return metrics
