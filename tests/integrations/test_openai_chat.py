"""OpenAI chat completions through the genuine `openai` client and a real socket to the fake
model server: what the llm span holds, errors, providers, proxies, parenting, patching."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from pydantic import BaseModel

from llmobs_core import LLMObs
from llmobs_core.testing import capture
from tests.integrations.conftest import async_openai

TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


class City(BaseModel):
    name: str
    population: int


def test_create_records_messages_model_metadata_and_tokens(spans, oai):
    """A plain create() gives one llm span with Datadog's name, the response's model, the
    messages, allow-listed metadata (temperature 0 kept, never the messages or metadata) and
    token counts."""
    result = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "You are terse."}, *USER],
        n=2, temperature=0, top_p=0.9, max_tokens=50, seed=7, stop=["\n\n"], user="u-1",
        metadata={"k": "v"})
    span = spans.by_name("OpenAI.createChatCompletion")
    meta = span["meta"]
    assert meta["span"]["kind"] == "llm"
    assert meta["model_name"] == result.model == "gpt-4o-mini-2024-07-18"
    assert meta["model_provider"] == "openai"
    assert meta["input"]["messages"] == [{"role": "system", "content": "You are terse."}, *USER]
    assert [m["content"] for m in meta["output"]["messages"]] == [
        c.message.content for c in result.choices]
    assert meta["metadata"] == {"n": 2, "temperature": 0, "top_p": 0.9, "max_tokens": 50,
                                "seed": 7, "stop": ["\n\n"], "user": "u-1",
                                "finish_reason": "stop,stop"}
    usage = result.usage
    assert span["metrics"] == {
        "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens, "cache_read_input_tokens": 0,
        "reasoning_output_tokens": 0}
    assert "sk-fake" not in json.dumps(span)


def test_tool_call_round_trip(spans, oai, fake_models):
    """A tool call comes back as parsed arguments with its id; sending its result gives a
    second span whose input holds the assistant's tool call and the tool's result."""
    asking = [{"role": "user", "content": "Weather? fake:tool"}]
    first = oai.chat.completions.create(model="gpt-4o-mini", tools=[TOOL], tool_choice="auto",
                                        messages=asking)
    call = first.choices[0].message.tool_calls[0]
    oai.chat.completions.create(model="gpt-4o-mini", tools=[TOOL], messages=[
        {"role": "user", "content": "Weather? fake:tool"}, first.choices[0].message,
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    asked, answered = spans.spans
    expected_call = {"name": "get_weather", "arguments": json.loads(call.function.arguments),
                     "tool_id": call.id, "type": "function"}
    assert asked["meta"]["output"]["messages"] == [
        {"role": "assistant", "content": "", "tool_calls": [expected_call]}]
    assert asked["meta"]["metadata"]["finish_reason"] == "tool_calls"
    assert asked["meta"]["tool_definitions"] == [{
        "name": "get_weather", "description": "Weather for a city",
        "schema": TOOL["function"]["parameters"]}]
    assert answered["meta"]["input"]["messages"][1:] == [
        {"role": "assistant", "content": "", "tool_calls": [expected_call]},
        {"role": "tool", "content": "", "tool_results": [
            {"name": "", "result": "sunny", "tool_id": call.id, "type": "tool_result"}]}]
    assert fake_models.bodies("/chat/completions")[-1]["messages"][2]["content"] == "sunny"


def test_parse_names_the_response_format(spans, oai):
    """parse() is recorded as parseChatCompletion, its pydantic response_format by name."""
    result = oai.chat.completions.parse(model="gpt-4o-mini", response_format=City,
                                        messages=[{"role": "user", "content": "Biggest city?"}])
    span = spans.by_name("OpenAI.parseChatCompletion")
    assert span["meta"]["metadata"]["response_format"] == "City"
    assert span["meta"]["output"]["messages"][0]["content"] == result.choices[0].message.content


def test_async_create(spans, fake_models):
    """The async client's create() gives the same span."""
    async def main() -> str:
        async with async_openai(fake_models) as client:
            result = await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
            return result.choices[0].message.content

    content = asyncio.run(main())
    span = spans.by_name("OpenAI.createChatCompletion")
    assert span["meta"]["output"]["messages"] == [{"role": "assistant", "content": content}]
    assert span["metrics"]["input_tokens"] > 0


@pytest.mark.parametrize(("prompt", "options", "error"), [
    ("fake:error=401", {}, openai.AuthenticationError),
    ("fake:error=429", {}, openai.RateLimitError),
    ("fake:slow=1", {"timeout": 0.2}, openai.APITimeoutError),
])
def test_client_errors_reach_the_caller_and_mark_the_span(spans, oai, prompt, options, error):
    """An HTTP error or a timeout reaches the caller as the client raised it; the span has
    status error, the client's exception type and message, and keeps the input."""
    with pytest.raises(error) as raised:
        oai.chat.completions.create(model="gpt-4o-mini", **options,
                                    messages=[{"role": "user", "content": prompt}])
    span = spans.by_name("OpenAI.createChatCompletion")
    assert span["status"] == "error"
    assert span["meta"]["error"]["type"] == f"openai.{error.__name__}"
    assert span["meta"]["error"]["message"] == str(raised.value)
    assert span["meta"]["input"]["messages"][0]["content"] == prompt
    assert span["metrics"] == {}


def test_connection_refused_is_an_error_span(spans):
    """A server that is not there: APIConnectionError for the caller, an error span."""
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert spans.spans[0]["meta"]["error"]["type"] == "openai.APIConnectionError"


@pytest.mark.parametrize(("path", "client_class", "provider", "name"), [
    ("/openai/v1", openai.OpenAI, "openai", "OpenAI.createChatCompletion"),
    ("/deepseek/v1", openai.OpenAI, "deepseek", "Deepseek.createChatCompletion"),
    ("/v1", openai.OpenAI, "unknown", "OpenAI.createChatCompletion"),
    ("", openai.AzureOpenAI, "azure_openai", "AzureOpenAI.createChatCompletion"),
])
def test_provider_from_the_client(spans, fake_models, path, client_class, provider, name):
    """The provider and span name follow the client's base URL (an Azure client is Azure)."""
    if client_class is openai.AzureOpenAI:
        client = openai.AzureOpenAI(azure_endpoint=fake_models.url, api_key="x",
                                    api_version="2024-06-01", max_retries=0)
    else:
        client = client_class(base_url=fake_models.url + path, api_key="x", max_retries=0)
    client.chat.completions.create(model="my-model", messages=USER)
    span = spans.spans[0]
    assert (span["name"], span["meta"]["model_provider"]) == (name, provider)


def test_deepseek_reasoning_is_a_reasoning_message(spans, fake_models):
    """DeepSeek's reasoning_content comes first in the output as a reasoning message."""
    client = openai.OpenAI(base_url=fake_models.url + "/deepseek/v1", api_key="x")
    client.chat.completions.create(model="deepseek-reasoner", messages=[
        {"role": "user", "content": "Why is the sky blue? fake:reasoning"}])
    roles = [m["role"] for m in spans.spans[0]["meta"]["output"]["messages"]]
    assert roles == ["reasoning", "assistant"]
    assert spans.spans[0]["metrics"]["reasoning_output_tokens"] > 0


@pytest.mark.parametrize("configured", ["{url}/proxy/v1", "{url}/proxy/v1/", "{url}/proxy"])
def test_proxy_base_url_gives_a_workflow_span(fake_models, configured):
    """A client whose base URL is a configured proxy (trailing slash or not, or below it) is
    recorded as a workflow span with the messages as its input and output, no model data."""
    with capture(instrumented_proxy_urls=[configured.format(url=fake_models.url)]) as spans:
        client = openai.OpenAI(base_url=fake_models.url + "/proxy/v1", api_key="x")
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
        span = spans.by_name("OpenAI.createChatCompletion")
    assert span["meta"]["span"]["kind"] == "workflow"
    assert json.loads(span["meta"]["input"]["value"]) == USER
    assert "model_name" not in span["meta"] and span["metrics"] == {}


def test_llm_span_is_a_child_of_the_active_span_with_its_session(spans, oai):
    """Inside a workflow, the auto span is its child and inherits session and ml_app; a
    user's annotate() on the workflow is not disturbed."""
    with LLMObs.workflow("plan", session_id="s-1", ml_app="planner") as workflow:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
        LLMObs.annotate(metadata={"step": 1})
    llm = spans.by_name("OpenAI.createChatCompletion")
    assert llm["parent_id"] == str(workflow.span_id)
    assert llm["session_id"] == "s-1"
    assert "ml_app:planner" in llm["tags"]
    assert spans.by_name("plan")["meta"]["metadata"] == {"step": 1}


@pytest.mark.llmobs_errors_expected
def test_unexpected_response_shape_keeps_what_could_be_read(spans, oai, caplog):
    """A body whose choices are not a list: the caller gets the client's result unchanged, the
    span keeps the model and token counts, and one warning says the output was not read."""
    for _ in range(3):
        result = oai.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "hi fake:odd"}])
    assert result.choices == 5
    span = spans.spans[0]
    assert span["status"] == "ok" and span["meta"]["model_name"] == "gpt-4o-mini-2024-07-18"
    assert span["metrics"]["input_tokens"] > 0 and "output" not in span["meta"]
    warnings = [r for r in caplog.records if "could not read" in r.getMessage()]
    assert len(warnings) == 1
    assert LLMObs.stats()["faults"] == {}


def test_integrations_disabled_and_disable_unpatch(oai):
    """integrations_enabled=False records nothing for the client; disable() restores the
    client's original method."""
    LLMObs.disable()
    original = openai.resources.chat.completions.Completions.__dict__["create"]
    with capture(integrations_enabled=False) as spans:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
        assert spans.spans == []
    LLMObs.enable(exporter="memory")
    assert openai.resources.chat.completions.Completions.__dict__["create"] is not original
    LLMObs.enable(exporter="memory")  # again: still wrapped once
    assert openai.resources.chat.completions.Completions.__dict__["create"].__wrapped__ is original
    LLMObs.disable()
    assert openai.resources.chat.completions.Completions.__dict__["create"] is original


def test_environment_turns_one_integration_off(monkeypatch, oai, ant):
    """DD_TRACE_OPENAI_ENABLED=false leaves openai untraced and anthropic traced."""
    monkeypatch.setenv("DD_TRACE_OPENAI_ENABLED", "false")
    with capture() as spans:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
        ant.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=USER)
        assert [span["name"] for span in spans.spans] == ["anthropic.request"]
