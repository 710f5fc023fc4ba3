"""Chat completions (`create`, `parse`, `stream=True`): the span Datadog's SDK makes for them.

Streams: unless the caller chose `stream_options.include_usage`, it is asked for, so the span
gets real token counts; the usage chunk it adds (the last one, with no choices) is hidden from
the caller, whose loop sees what it would see without llmobs."""

from __future__ import annotations

from typing import Any

from .._calls import Call
from .._values import get, given, json_value, metadata_from, set_metadata, text_of, tool_definitions
from ._span import open_span

METADATA_KEYS = (
    "audio", "frequency_penalty", "function_call", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "modalities", "n", "parallel_tool_calls",
    "prediction", "presence_penalty", "reasoning_effort", "response_format", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice",
    "top_logprobs", "top_p", "user", "web_search_options",
)


def open_create(resource: Any, kwargs: dict[str, Any]) -> ChatCall | None:
    return _open(resource, kwargs, "createChatCompletion")


def open_parse(resource: Any, kwargs: dict[str, Any]) -> ChatCall | None:
    return _open(resource, kwargs, "parseChatCompletion")


def _open(resource: Any, kwargs: dict[str, Any], operation: str) -> ChatCall | None:
    opened = open_span(resource, "llm", operation, kwargs)
    if opened is None:
        return None
    span, proxy = opened
    span.input = input_messages(get(kwargs, "messages"))
    set_metadata(span, metadata_from(kwargs, METADATA_KEYS))
    span.tool_definitions = tool_definitions(get(kwargs, "tools") or get(kwargs, "functions"))
    hide_usage = False
    if kwargs.get("stream") is True:
        options = get(kwargs, "stream_options")
        if not isinstance(options, dict) or "include_usage" not in options:
            kwargs = {**kwargs, "stream_options": {**(options or {}), "include_usage": True}}
            hide_usage = True
    return ChatCall(span, kwargs, proxy, hide_usage)


def tool_calls(calls: Any, function_call: Any = None) -> list[dict[str, Any]]:
    found = []
    for call in calls or ():
        function = get(call, "function") or {}
        found.append({"name": get(function, "name") or "",
                      "arguments": json_value(get(function, "arguments")),
                      "tool_id": get(call, "id") or "", "type": get(call, "type") or "function"})
    if given(function_call) and function_call:  # the legacy form: no id, no type
        found.append({"name": get(function_call, "name") or "",
                      "arguments": json_value(get(function_call, "arguments"))})
    return found


def input_messages(messages: Any) -> list[dict[str, Any]]:
    shaped = []
    for message in messages or ():
        role = get(message, "role") or ""
        if role == "tool":
            shaped.append({"role": "tool", "content": "", "tool_results": [{
                "name": get(message, "name") or "", "result": text_of(get(message, "content")),
                "tool_id": get(message, "tool_call_id") or "", "type": "tool_result"}]})
            continue
        item: dict[str, Any] = {"role": role, "content": text_of(get(message, "content"))}
        calls = tool_calls(get(message, "tool_calls"), get(message, "function_call"))
        if calls:
            item["tool_calls"] = calls
        shaped.append(item)
    return shaped


def output_messages(message: Any) -> list[dict[str, Any]]:
    shaped = []
    reasoning = get(message, "reasoning_content")  # DeepSeek's reasoning models
    if isinstance(reasoning, str) and reasoning:
        shaped.append({"role": "reasoning", "content": reasoning})
    content = get(message, "content")
    if content is None:
        content = get(message, "refusal")
    item: dict[str, Any] = {"role": get(message, "role") or "assistant",
                            "content": text_of(content)}
    calls = tool_calls(get(message, "tool_calls"), get(message, "function_call"))
    if calls:
        item["tool_calls"] = calls
    shaped.append(item)
    return shaped


class _Choice:
    __slots__ = ("role", "content", "reasoning", "tools", "finish_reason")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def message(self) -> dict[str, Any]:
        calls = [{"id": tool["id"], "type": tool["type"],
                  "function": {"name": tool["name"], "arguments": "".join(tool["arguments"])}}
                 for _, tool in sorted(self.tools.items())]
        return {"role": self.role or "assistant", "content": "".join(self.content),
                "reasoning_content": "".join(self.reasoning), "tool_calls": calls}


class ChatCall(Call):
    place = "openai.chat"

    def __init__(self, span: Any, kwargs: dict[str, Any], proxy: bool, hide_usage: bool) -> None:
        super().__init__(span, kwargs, proxy)
        self.hide_usage = hide_usage
        self.choices: dict[int, _Choice] = {}
        self.usage: Any = None
        self.model: str | None = None

    def read_response(self, response: Any) -> None:
        self.read_model(get(response, "model"))
        usage = get(response, "usage")
        if usage is not None:  # first: an odd output must not cost the token counts
            self.metrics(usage_metrics(usage))
        output, reasons = [], []
        for choice in get(response, "choices") or ():
            output.extend(output_messages(get(choice, "message")))
            reasons.append(get(choice, "finish_reason"))
        self.finish(output, reasons, None)

    def read_model(self, model: Any) -> None:
        if isinstance(model, str) and model and not self.proxy:
            self.span.model_name = model

    def finish(self, output: list[dict[str, Any]], reasons: list[Any], usage: Any) -> None:
        self.span.output = output
        finished = ",".join(reason for reason in reasons if isinstance(reason, str))
        if finished:
            set_metadata(self.span, {"finish_reason": finished})
        if usage is not None:
            self.metrics(usage_metrics(usage))

    def take_item(self, chunk: Any) -> bool:
        if self.model is None:
            self.model = get(chunk, "model")
        usage = get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        choices = get(chunk, "choices")
        if not choices:
            return usage is not None and self.hide_usage
        for choice in choices:
            state = self.choices.get(get(choice, "index", 0))
            if state is None:
                state = self.choices[get(choice, "index", 0)] = _Choice()
            delta = get(choice, "delta")
            if delta is not None:
                _add_delta(state, delta)
            reason = get(choice, "finish_reason")
            if reason:
                state.finish_reason = reason
        return False

    def read_stream(self) -> None:
        self.read_model(self.model)
        output, reasons = [], []
        for _, state in sorted(self.choices.items()):
            output.extend(output_messages(state.message()))
            reasons.append(state.finish_reason)
        self.finish(output, reasons, self.usage)


def _add_delta(state: _Choice, delta: Any) -> None:
    role = get(delta, "role")
    if role:
        state.role = role
    content = get(delta, "content")
    if content:
        state.content.append(content)
    reasoning = get(delta, "reasoning_content")
    if isinstance(reasoning, str):
        state.reasoning.append(reasoning)
    for call in get(delta, "tool_calls") or ():
        index = get(call, "index", 0)
        tool = state.tools.get(index)
        if tool is None:
            tool = state.tools[index] = {"id": "", "type": "function", "name": "",
                                         "arguments": []}
        tool["id"] = get(call, "id") or tool["id"]
        tool["type"] = get(call, "type") or tool["type"]
        function = get(call, "function")
        if function is not None:
            tool["name"] = get(function, "name") or tool["name"]
            arguments = get(function, "arguments")
            if arguments:
                tool["arguments"].append(arguments)


def usage_metrics(usage: Any) -> dict[str, Any]:
    """Token counts of a chat usage object; the cache and reasoning counts when reported."""
    input_tokens = get(usage, "prompt_tokens")
    output_tokens = get(usage, "completion_tokens")
    metrics = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if isinstance(input_tokens, int) and isinstance(output_tokens, int):
        metrics["total_tokens"] = input_tokens + output_tokens
    cached = get(get(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is not None:
        metrics["cache_read_input_tokens"] = cached
    reasoning = get(get(usage, "completion_tokens_details"), "reasoning_tokens")
    if reasoning is not None:
        metrics["reasoning_output_tokens"] = reasoning
    return metrics
