"""The OTLP sink's attributes for messages with tool calls and results, and the split between
the attributes most spans share (encoded once) and the others."""

from __future__ import annotations

import json

from llmobs_core import LLMObs
from llmobs_core.export._otlp_mapping import (
    fixed_attributes,
    fixed_key,
    span_attributes,
    varying_attributes,
)
from llmobs_core.testing import capture

MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"name": "track", "arguments": {"parcel": 12}, "tool_id": "call-1", "type": "function"}]},
    {"role": "tool", "content": "", "tool_results": [
        {"name": "track", "result": "left", "tool_id": "call-1", "type": "tool_result"}]},
    {"content": "thanks"},
]


def _llm_event() -> dict:
    with capture(ml_app="shop") as captured:
        with LLMObs.llm(model_name="gpt-4o", model_provider="OpenAI", name="chat",
                        session_id="s-1") as span:
            LLMObs.annotate(span, input_data=MESSAGES, output_data="ok", tags={"team": "a"},
                            metrics={"input_tokens": 300, "output_tokens": 2.0})
    (event,) = captured.spans
    return event


def test_messages_with_tool_calls_and_results() -> None:
    attributes = span_attributes(_llm_event())
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call-1", "name": "track",
                                         "arguments": {"parcel": 12}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call-1",
                                    "response": "left"}]},
        {"role": "user", "parts": [{"type": "text", "content": "thanks"}]}]
    base = "llm.input_messages"
    assert attributes[f"{base}.1.message.tool_calls.0.tool_call.function.name"] == "track"
    assert json.loads(attributes[f"{base}.1.message.tool_calls.0.tool_call.function.arguments"]
                      ) == {"parcel": 12}
    assert attributes[f"{base}.1.message.tool_calls.0.tool_call.id"] == "call-1"
    assert attributes[f"{base}.2.message.tool_call_id"] == "call-1"
    assert attributes[f"{base}.3.message.role"] == "user"
    assert json.loads(attributes["output.value"]) == [{"content": "ok"}]
    assert attributes["llm.output_messages.0.message.content"] == "ok"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["llm.token_count.prompt"],
            attributes["gen_ai.usage.output_tokens"]) == (300, 300, 2)
    assert attributes["session.id"] == attributes["gen_ai.conversation.id"] == "s-1"
    keys = list(attributes)  # the GenAI messages come before the per-message attributes
    assert keys.index("input.value") < keys.index("gen_ai.input.messages") < keys.index(
        f"{base}.0.message.role")


def test_fixed_attributes_are_shared_and_the_rest_varies() -> None:
    event = _llm_event()
    fixed = fixed_attributes(fixed_key(event))
    assert fixed is fixed_attributes(fixed_key(_llm_event()))
    assert (fixed["llmobs.ml_app"], fixed["gen_ai.provider.name"], fixed["llm.model_name"]) == (
        "shop", "openai", "gpt-4o")
    assert "team:a" in fixed["tag.tags"]
    assert not set(fixed) & set(varying_attributes(event))
    event["tags"].append({"unhashable": "tag"})  # a span processor's doing: still mapped
    assert span_attributes(event)["llmobs.ml_app"] == "shop"
