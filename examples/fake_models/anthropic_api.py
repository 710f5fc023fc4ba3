"""The fake Anthropic Messages endpoint, JSON and SSE (see server.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from .common import (
    Event,
    count_tokens,
    fake_id,
    openai_prompt,
    pick_tool,
    pieces,
    reasoning_text,
    reply_text,
)

ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error",
                    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def anthropic_error(status: int) -> dict:
    kind = ANTHROPIC_ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"Fake {kind} ({status})."},
            "request_id": fake_id("req_", status)}


def anthropic_message(body: dict, fx: dict) -> dict:
    messages = body.get("messages") or []
    prompt = openai_prompt(messages)
    content: list[dict] = []
    if "reasoning" in fx or (body.get("thinking") or {}).get("type") == "enabled":
        content.append({"type": "thinking", "thinking": reasoning_text(prompt),
                        "signature": "ZmFrZS1zaWduYXR1cmU="})
    tool = pick_tool(body.get("tools") or [], messages[-1] if messages else None, fx)
    if tool:
        content.append({"type": "text", "text": "I will call a tool."})
        content.append({"type": "tool_use", "id": fake_id("toolu_", prompt), "name": tool["name"],
                        "input": tool["arguments"]})
    else:
        content.append({"type": "text", "text": reply_text(prompt)})
    cache_read, cache_write = int(fx.get("cached") or 0), int(fx.get("cache_write") or 0)
    usage = {"input_tokens": count_tokens(json.dumps([body.get("system"), messages])),
             "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read,
             "cache_creation": {"ephemeral_5m_input_tokens": cache_write,
                                "ephemeral_1h_input_tokens": 0},
             "output_tokens": count_tokens(json.dumps(content)), "service_tier": "standard"}
    return {"id": fake_id("msg_", messages), "type": "message", "role": "assistant",
            "model": body.get("model"), "content": content,
            "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None,
            "usage": usage}


def anthropic_events(body: dict, fx: dict) -> Iterator[Event]:
    final = anthropic_message(body, fx)
    usage = final["usage"]
    start = {**final, "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    for i, block in enumerate(final["content"]):
        kind = block["type"]
        empty = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {**block, "input": {}}}[kind]
        yield "content_block_start", {"type": "content_block_start", "index": i,
                                      "content_block": empty}
        if i == 0:
            yield "ping", {"type": "ping"}
        if kind == "text":
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"])]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": raw[k:k + 8]}
                      for k in range(0, len(raw), 8)]
        for delta in deltas:
            yield "content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                            "usage": {"output_tokens": usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}
