"""The Responses API, embeddings and Anthropic messages through the genuine clients and the
fake model server: what each span holds, tool round trips, errors."""

from __future__ import annotations

import asyncio

import anthropic
import pytest

from llmobs_core import LLMObs
from tests.integrations.conftest import async_anthropic, async_openai

RTOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
ATOOL = {"name": "get_weather", "description": "Weather for a city",
         "input_schema": RTOOL["parameters"]}


def test_response_with_instructions_reasoning_and_tool_round_trip(spans, oai):
    """responses.create: instructions become the system message, a reasoning item a reasoning
    message, a function call a tool call; its output sent back is a tool result."""
    first = oai.responses.create(model="o4-mini", instructions="Be terse.", tools=[RTOOL],
                                 input=[{"role": "user", "content": "Weather? fake:tool"}],
                                 reasoning={"effort": "low", "summary": "auto"})
    call = next(item for item in first.output if item.type == "function_call")
    oai.responses.create(model="o4-mini", tools=[RTOOL], input=[
        {"role": "user", "content": "Weather?"}, call,
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    asked, answered = spans.spans
    assert asked["name"] == "OpenAI.createResponse"
    assert asked["meta"]["input"]["messages"][0] == {"role": "system", "content": "Be terse."}
    roles = [m["role"] for m in asked["meta"]["output"]["messages"]]
    assert roles == ["reasoning", "assistant"]
    assert asked["meta"]["output"]["messages"][1]["tool_calls"][0]["tool_id"] == call.call_id
    assert asked["meta"]["metadata"]["reasoning"] == {"effort": "low", "summary": "auto"}
    assert asked["metrics"]["reasoning_output_tokens"] > 0
    assert answered["meta"]["input"]["messages"][-1]["tool_results"] == [
        {"name": "", "result": "sunny", "tool_id": call.call_id,
         "type": "function_call_output"}]


def test_streamed_response_async(spans, fake_models):
    """An async streamed response: the span's output and tokens come from response.completed."""
    async def main() -> str:
        async with async_openai(fake_models) as client:
            stream = await client.responses.create(model="gpt-4.1", input="Stream please",
                                                   stream=True)
            return "".join([e.delta async for e in stream if e.type.endswith("text.delta")])

    text = asyncio.run(main())
    span = spans.by_name("OpenAI.createResponse")
    assert span["meta"]["output"]["messages"] == [{"role": "assistant", "content": text}]
    assert span["metrics"]["total_tokens"] > 0 and "time_to_first_token" in span["metrics"]


@pytest.mark.parametrize("options", [{}, {"encoding_format": "float", "dimensions": 8}])
def test_embeddings_summarise_the_vectors(spans, oai, options):
    """An embedding span: input documents, a summary of the vectors (never the numbers),
    the encoding the caller saw, input tokens."""
    result = oai.embeddings.create(model="text-embedding-3-small", input=["a", "b"], **options)
    span = spans.by_name("OpenAI.createEmbedding")
    size = len(result.data[0].embedding)
    assert span["meta"]["span"]["kind"] == "embedding"
    assert span["meta"]["input"]["documents"] == [{"text": "a"}, {"text": "b"}]
    assert span["meta"]["output"]["value"] == f"[2 embedding(s) returned with size {size}]"
    assert span["meta"]["metadata"]["encoding_format"] == "float"
    assert span["metrics"]["input_tokens"] == result.usage.prompt_tokens


def test_anthropic_message_with_thinking_tools_and_cache(spans, ant):
    """messages.create: system first, one message per block (thinking, text, tool_use), the
    tool result sent back, temperature 0 kept, input tokens including cache reads and writes."""
    first = ant.messages.create(
        model="claude-sonnet-4-5", max_tokens=200, system="Be terse.", tools=[ATOOL],
        extra_body={"temperature": 0}, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Weather? fake:tool fake:cached=5 "
                                              "fake:cache_write=7"}])
    use = next(block for block in first.content if block.type == "tool_use")
    ant.messages.create(model="claude-sonnet-4-5", max_tokens=200, tools=[ATOOL], messages=[
        {"role": "user", "content": "Weather?"}, {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                      "content": "sunny"}]}])
    asked, answered = spans.spans
    meta = asked["meta"]
    assert asked["name"] == "anthropic.request" and meta["model_provider"] == "anthropic"
    assert meta["input"]["messages"][0] == {"role": "system", "content": "Be terse."}
    assert [m["role"] for m in meta["output"]["messages"]] == ["reasoning", "assistant",
                                                               "assistant"]
    assert meta["output"]["messages"][2]["tool_calls"][0] == {
        "name": "get_weather", "arguments": use.input, "tool_id": use.id, "type": "tool_use"}
    assert meta["metadata"]["temperature"] == 0 and meta["metadata"]["finish_reason"] == "tool_use"
    usage = first.usage
    assert asked["metrics"]["input_tokens"] == usage.input_tokens + 5 + 7
    assert (asked["metrics"]["cache_read_input_tokens"],
            asked["metrics"]["cache_write_input_tokens"]) == (5, 7)
    assert answered["meta"]["input"]["messages"][-1]["tool_results"] == [
        {"result": "sunny", "tool_id": use.id, "type": "tool_result"}]


def test_anthropic_async_error(spans, fake_models):
    """An async call answered 429: RateLimitError for the caller, an error span."""
    async def main() -> None:
        async with async_anthropic(fake_models) as client:
            await client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[
                {"role": "user", "content": "hi fake:error=429"}])

    with pytest.raises(anthropic.RateLimitError):
        asyncio.run(main())
    span = spans.by_name("anthropic.request")
    assert span["status"] == "error"
    assert span["meta"]["error"]["type"] == "anthropic.RateLimitError"


def test_anthropic_beta_messages_are_traced_like_messages(spans, ant, fake_models):
    """client.beta.messages.create and .stream (sync and async) give the same llm spans as
    client.messages; disable() puts the beta methods back too."""
    from anthropic.resources.beta.messages.messages import Messages as BetaMessages

    created = ant.beta.messages.create(model="claude-sonnet-4-5", max_tokens=100,
                                       betas=["context-1m-2025-08-07"], messages=[
                                           {"role": "user", "content": "Hello beta"}])
    with ant.beta.messages.stream(model="claude-sonnet-4-5", max_tokens=100, tools=[ATOOL],
                                  messages=[{"role": "user",
                                             "content": "Weather? fake:tool"}]) as stream:
        streamed = stream.get_final_message()

    async def main() -> str:
        async with async_anthropic(fake_models) as client, client.beta.messages.stream(
                model="claude-sonnet-4-5", max_tokens=100,
                messages=[{"role": "user", "content": "Async beta"}]) as astream:
            return "".join([text async for text in astream.text_stream])

    text = asyncio.run(main())
    plain, helper, async_helper = spans.spans
    assert {s["name"] for s in spans.spans} == {"anthropic.request"}
    assert plain["meta"]["output"]["messages"] == [
        {"role": "assistant", "content": created.content[0].text}]
    assert plain["meta"]["metadata"] == {"max_tokens": 100, "finish_reason": "end_turn"}
    assert plain["metrics"]["input_tokens"] == created.usage.input_tokens
    assert helper["meta"]["output"]["messages"][1]["tool_calls"][0]["arguments"] == (
        streamed.content[1].input)
    assert helper["meta"]["tool_definitions"][0]["name"] == "get_weather"
    assert "time_to_first_token" in helper["metrics"]
    assert async_helper["meta"]["output"]["messages"] == [{"role": "assistant", "content": text}]
    assert getattr(BetaMessages.create, "_self_llmobs", False)
    LLMObs.disable()
    assert not getattr(BetaMessages.create, "_self_llmobs", False)
    assert not getattr(BetaMessages.stream, "_self_llmobs", False)
