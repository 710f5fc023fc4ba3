"""The fake OpenAI endpoints: chat completions, responses, embeddings (see server.py)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

from .common import (
    Event,
    count_tokens,
    fake_id,
    openai_prompt,
    pick_tool,
    pieces,
    reasoning_text,
    reply_text,
    sample_json,
    text_of,
    vector,
)

OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Invalid value for 'temperature'."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-fake."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
}


def openai_error(status: int) -> dict:
    kind, code, message = OPENAI_ERRORS.get(status, OPENAI_ERRORS[500])
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def chat_usage(prompt_tokens: int, completion_tokens: int, fx: dict, reasoning: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": int(fx.get("cached") or 0),
                                      "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def chat_choices(body: dict, fx: dict) -> list[dict]:
    messages = body.get("messages") or []
    prompt = openai_prompt(messages)
    scripted = fx.get("reply")  # {"content": text} or {"tool": {name, arguments}}: see server.py
    if scripted:
        tool = scripted.get("tool")
    else:
        tool = pick_tool(body.get("tools") or [], messages[-1] if messages else None, fx)
    fmt = body.get("response_format") or {}
    choices = []
    for i in range(body.get("n") or 1):
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if tool:
            message["tool_calls"] = [{"id": fake_id("call_", prompt, i), "type": "function",
                                      "function": {"name": tool["name"],
                                                   "arguments": json.dumps(tool["arguments"])}}]
        elif fmt.get("type") == "json_schema":
            message["content"] = json.dumps(sample_json(fmt["json_schema"].get("schema", {})))
        else:
            message["content"] = scripted["content"] if scripted else reply_text(prompt, i)
        if "reasoning" in fx:
            message["reasoning_content"] = reasoning_text(prompt)
        finish = "tool_calls" if tool else "stop"
        choices.append({"index": i, "message": message, "logprobs": None, "finish_reason": finish})
    return choices


def chat_completion(body: dict, fx: dict) -> dict:
    choices = chat_choices(body, fx)
    out = sum(count_tokens(json.dumps(c["message"])) for c in choices)
    reasoning = sum(count_tokens(c["message"].get("reasoning_content", "")) for c in choices)
    prompt_tokens = count_tokens(json.dumps(body.get("messages")))
    if "odd" in fx:  # a shape no client version sends: choices that are not a list
        choices = 5  # type: ignore[assignment]
    return {"id": fake_id("chatcmpl-", body.get("messages")), "object": "chat.completion",
            "created": 1700000000, "model": body.get("model", "") + "-2024-07-18",
            "system_fingerprint": "fp_fake", "service_tier": "default", "choices": choices,
            "usage": chat_usage(prompt_tokens, out, fx, reasoning)}


def chat_completion_events(body: dict, fx: dict) -> Iterator[Event]:
    full = chat_completion(body, fx)
    base = {k: full[k] for k in ("id", "object", "created", "model", "system_fingerprint",
                                 "service_tier")}
    base["object"] = "chat.completion.chunk"
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    extra = {"usage": None} if include_usage else {}

    def chunk(index: int, delta: dict, finish: str | None = None) -> Event:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return None, {**base, "choices": [choice], **extra}

    def deltas(c: dict) -> Iterator[Event]:
        i, message = c["index"], c["message"]
        yield chunk(i, {"role": "assistant", "content": "", "refusal": None})
        for part in pieces(message.get("reasoning_content") or ""):
            if part:
                yield chunk(i, {"reasoning_content": part})
        for n, call in enumerate(message.get("tool_calls") or []):
            head = {"index": n, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}
            yield chunk(i, {"tool_calls": [head]})
            args = call["function"]["arguments"]
            for k in range(0, len(args), 8):
                piece = args[k:k + 8]
                yield chunk(i, {"tool_calls": [{"index": n, "function": {"arguments": piece}}]})
        for part in pieces(message.get("content") or ""):
            if part:
                yield chunk(i, {"content": part})
        yield chunk(i, {}, c["finish_reason"])

    # n > 1: choices interleave chunk by chunk, as OpenAI sends them
    streams = [deltas(c) for c in full["choices"]]
    while streams:
        for stream in list(streams):
            item = next(stream, None)
            if item is None:
                streams.remove(stream)
            else:
                yield item
    if include_usage:
        yield None, {**base, "choices": [], "usage": full["usage"]}
    yield None, "[DONE]"


def response_input(body: dict) -> tuple[str, dict | None]:
    items = body.get("input")
    if isinstance(items, str):
        return items, {"role": "user", "content": items}
    users = [i for i in items or [] if isinstance(i, dict) and i.get("role") == "user"]
    prompt = text_of(users[-1].get("content")) if users else ""
    return prompt, (items[-1] if items else None)


def response_object(body: dict, fx: dict, status: str = "completed") -> dict:
    prompt, last = response_input(body)
    tool = pick_tool(body.get("tools") or [], last, fx)
    output: list[dict] = []
    if "reasoning" in fx or body.get("reasoning"):
        summary = [{"type": "summary_text", "text": reasoning_text(prompt)}]
        output.append({"type": "reasoning", "id": fake_id("rs_", prompt), "summary": summary})
    if tool:
        output.append({"type": "function_call", "id": fake_id("fc_", prompt),
                       "call_id": fake_id("call_", prompt), "name": tool["name"],
                       "arguments": json.dumps(tool["arguments"]), "status": "completed"})
    else:
        fmt = ((body.get("text") or {}).get("format") or {})
        text = (json.dumps(sample_json(fmt.get("schema", {}))) if fmt.get("type") == "json_schema"
                else reply_text(prompt))
        output.append({"type": "message", "id": fake_id("msg_", prompt), "status": "completed",
                       "role": "assistant", "content": [
                           {"type": "output_text", "text": text, "annotations": [],
                            "logprobs": []}]})
    in_tokens = count_tokens(json.dumps([body.get("input"), body.get("instructions")]))
    reasoning = sum(count_tokens(json.dumps(o["summary"])) for o in output
                    if o["type"] == "reasoning")
    out_tokens = count_tokens(json.dumps(output))
    usage = {"input_tokens": in_tokens,
             "input_tokens_details": {"cached_tokens": int(fx.get("cached") or 0)},
             "output_tokens": out_tokens,
             "output_tokens_details": {"reasoning_tokens": reasoning},
             "total_tokens": in_tokens + out_tokens}
    done = status == "completed"
    return {"id": fake_id("resp_", body.get("input")), "object": "response",
            "created_at": 1700000000, "status": status, "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body.get("model", "") + "-2025-04-14", "output": output if done else [],
            "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0), "truncation": "disabled",
            "usage": usage if done else None, "user": body.get("user"), "metadata": {}}


def response_events(body: dict, fx: dict) -> Iterator[Event]:
    final = response_object(body, fx)
    seq = iter(range(10_000))

    def ev(kind: str, **data: Any) -> Event:
        return kind, {"type": kind, "sequence_number": next(seq), **data}

    yield ev("response.created", response=response_object(body, fx, "in_progress"))
    yield ev("response.in_progress", response=response_object(body, fx, "in_progress"))
    for n, item in enumerate(final["output"]):
        ids = {"item_id": item["id"], "output_index": n}
        if item["type"] == "message":
            yield ev("response.output_item.added", output_index=n, item={**item, "content": [],
                                                                        "status": "in_progress"})
            part = item["content"][0]
            yield ev("response.content_part.added", **ids, content_index=0,
                     part={**part, "text": ""})
            for delta in pieces(part["text"]):
                yield ev("response.output_text.delta", **ids, content_index=0, delta=delta,
                         logprobs=[])
            yield ev("response.output_text.done", **ids, content_index=0, text=part["text"],
                     logprobs=[])
            yield ev("response.content_part.done", **ids, content_index=0, part=part)
        elif item["type"] == "function_call":
            yield ev("response.output_item.added", output_index=n,
                     item={**item, "arguments": "", "status": "in_progress"})
            for k in range(0, len(item["arguments"]), 8):
                yield ev("response.function_call_arguments.delta", **ids,
                         delta=item["arguments"][k:k + 8])
            yield ev("response.function_call_arguments.done", **ids, name=item["name"],
                     arguments=item["arguments"])
        else:  # reasoning
            yield ev("response.output_item.added", output_index=n, item={**item, "summary": []})
            text = item["summary"][0]["text"]
            yield ev("response.reasoning_summary_part.added", **ids, summary_index=0,
                     part={"type": "summary_text", "text": ""})
            for delta in pieces(text):
                yield ev("response.reasoning_summary_text.delta", **ids, summary_index=0,
                         delta=delta)
            yield ev("response.reasoning_summary_text.done", **ids, summary_index=0, text=text)
            yield ev("response.reasoning_summary_part.done", **ids, summary_index=0,
                     part=item["summary"][0])
        yield ev("response.output_item.done", output_index=n, item=item)
    yield ev("response.completed", response=final)


def embeddings(body: dict, fx: dict) -> dict:
    inputs = body.get("input")
    if isinstance(inputs, str) or (
            isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    dims = body.get("dimensions") or (3072 if "large" in str(body.get("model")) else 1536)
    data = []
    for i, item in enumerate(inputs or []):
        values = vector(json.dumps(item), dims)
        if body.get("encoding_format") == "base64":
            encoded: Any = base64.b64encode(struct.pack(f"<{dims}f", *values)).decode()
        else:
            encoded = values
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(len(x) if isinstance(x, list) else count_tokens(x) for x in inputs or [])
    return {"object": "list", "data": data, "model": body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
