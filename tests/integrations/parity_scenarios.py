"""The calls test_ddtrace_parity.py traces twice, once with llmobs and once with Datadog's own
SDK: plain client code that knows nothing of either tracer.

Run as a script, it is the Datadog side: ddtrace enabled from the environment (agentless, its
events sent to DD_LLMOBS_OVERRIDE_ORIGIN), each scenario inside an annotation_context that tags
its spans `parity:<scenario>`, then a flush:

    python -m tests.integrations.parity_scenarios FAKE_MODELS_URL
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import anthropic
import openai
from pydantic import BaseModel

TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
RTOOL = {"type": "function", **TOOL["function"]}
ATOOL = {"name": "get_weather", "description": "Weather for a city",
         "input_schema": TOOL["function"]["parameters"]}
USER = [{"role": "user", "content": "What is the weather in Paris?"}]
# The instrumented proxy URLs: ddtrace compares them to the client's base URL string, which
# ends in "/"; the first is written without one, as a user may write it.
PROXY_PATHS = ("/proxy/v1", "/proxy-slash/v1/")


class City(BaseModel):
    name: str
    population: int


class Clients:
    def __init__(self, url: str) -> None:
        self.url = url
        self.oai = openai.OpenAI(base_url=url + "/openai/v1", api_key="sk-fake", max_retries=0)
        self.ant = anthropic.Anthropic(base_url=url + "/anthropic", api_key="sk-ant-fake",
                                       max_retries=0)

    def async_openai(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url + "/openai/v1", api_key="sk-fake",
                                  max_retries=0)

    def close(self) -> None:
        self.oai.close()
        self.ant.close()


def chat_plain(c: Clients) -> None:
    c.oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "You are terse."}, *USER],
        n=2, temperature=0, top_p=0.9, max_tokens=50, seed=7, stop=["\n\n"], user="u-1",
        response_format={"type": "text"}, metadata={"k": "v"}, store=False)


def chat_tools_round_trip(c: Clients) -> None:
    asking = [{"role": "user", "content": "Weather in Paris? fake:tool fake:cached=3"}]
    first = c.oai.chat.completions.create(model="gpt-4o-mini", tools=[TOOL], tool_choice="auto",
                                          messages=asking)
    message = first.choices[0].message
    call = message.tool_calls[0]
    c.oai.chat.completions.create(model="gpt-4o-mini", tools=[TOOL], messages=[
        *asking, message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"}])


def chat_stream(c: Clients) -> None:
    for _ in c.oai.chat.completions.create(model="gpt-4o-mini", stream=True, messages=USER,
                                           temperature=0.5):
        pass


def chat_stream_tools(c: Clients) -> None:
    for _ in c.oai.chat.completions.create(model="gpt-4o-mini", stream=True, tools=[TOOL],
                                           messages=[{"role": "user",
                                                      "content": "Weather? fake:tool"}]):
        pass


def chat_stream_usage_false(c: Clients) -> None:
    for _ in c.oai.chat.completions.create(model="gpt-4o-mini", stream=True, messages=USER,
                                           stream_options={"include_usage": False}):
        pass


def chat_stream_async(c: Clients) -> None:
    async def run() -> None:
        async with c.async_openai() as client:
            stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                          messages=USER)
            async for _ in stream:
                pass

    asyncio.run(run())


def chat_error(c: Clients) -> None:
    try:
        c.oai.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "Hello fake:error=401"}])
    except openai.AuthenticationError:
        pass


def chat_stream_error(c: Clients) -> None:
    try:
        for _ in c.oai.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[
                {"role": "user", "content": "one two three four five six fake:stream_error=4"}]):
            pass
    except openai.APIError:
        pass


def anthropic_stream_error(c: Clients) -> None:
    try:
        for _ in c.ant.messages.create(model="claude-sonnet-4-5", max_tokens=10, stream=True,
                                       messages=[{"role": "user", "content":
                                                  "one two three four five fake:stream_error=5"}]):
            pass
    except anthropic.APIError:
        pass


def chat_proxy(c: Clients) -> None:
    with openai.OpenAI(base_url=c.url + "/proxy-slash/v1", api_key="sk-fake",
                       max_retries=0) as proxy:
        proxy.chat.completions.create(model="gpt-4o-mini", messages=USER)


def chat_proxy_no_slash(c: Clients) -> None:
    with openai.OpenAI(base_url=c.url + "/proxy/v1", api_key="sk-fake", max_retries=0) as proxy:
        proxy.chat.completions.create(model="gpt-4o-mini", messages=USER)


def responses_plain(c: Clients) -> None:
    c.oai.responses.create(model="gpt-4.1", input="What is the weather in Paris?",
                           instructions="Be terse.", temperature=0.2, max_output_tokens=100,
                           user="u-1", store=False)


def responses_reasoning_tools(c: Clients) -> None:
    asking = {"role": "user", "content": "Weather? fake:tool fake:cached=2"}
    first = c.oai.responses.create(model="o4-mini", tools=[RTOOL], input=[asking],
                                   reasoning={"effort": "low", "summary": "auto"})
    call = first.output[-1]
    c.oai.responses.create(model="o4-mini", tools=[RTOOL], input=[
        asking, {"type": "function_call", "call_id": call.call_id, "name": call.name,
                 "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])


def responses_stream(c: Clients) -> None:
    for _ in c.oai.responses.create(model="gpt-4.1", input="Stream please", stream=True):
        pass


def responses_parse(c: Clients) -> None:
    c.oai.responses.parse(model="gpt-4.1", input="Biggest French city?", text_format=City)


def embeddings(c: Clients) -> None:
    c.oai.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    c.oai.embeddings.create(model="text-embedding-3-small", input="hello",
                            encoding_format="float", dimensions=8)


def anthropic_plain(c: Clients) -> None:
    c.ant.messages.create(model="claude-sonnet-4-5", max_tokens=200, system="Be terse.",
                          messages=USER, stop_sequences=["END"], extra_body={"temperature": 0})


def anthropic_stream(c: Clients) -> None:
    for _ in c.ant.messages.create(model="claude-sonnet-4-5", max_tokens=200, stream=True,
                                   messages=USER):
        pass
    with c.ant.messages.stream(model="claude-sonnet-4-5", max_tokens=200, messages=[
            {"role": "user", "content": "Weather? fake:cached=2"}]) as stream:
        "".join(stream.text_stream)


def anthropic_tools(c: Clients) -> None:
    asking = {"role": "user", "content": "Weather? fake:tool"}
    first = c.ant.messages.create(model="claude-sonnet-4-5", max_tokens=2000, tools=[ATOOL],
                                  thinking={"type": "enabled", "budget_tokens": 1024},
                                  messages=[asking])
    blocks = [block.model_dump(exclude_none=True) for block in first.content]
    c.ant.messages.create(model="claude-sonnet-4-5", max_tokens=2000, tools=[ATOOL],
                          thinking={"type": "enabled", "budget_tokens": 1024}, messages=[
                              asking, {"role": "assistant", "content": blocks},
                              {"role": "user", "content": [{
                                  "type": "tool_result", "tool_use_id": blocks[-1]["id"],
                                  "content": "sunny"}]}])


def anthropic_beta(c: Clients) -> None:
    c.ant.beta.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=USER,
                               betas=["context-1m-2025-08-07"])
    with c.ant.beta.messages.stream(model="claude-sonnet-4-5", max_tokens=100, tools=[ATOOL],
                                    messages=[{"role": "user",
                                               "content": "Weather? fake:tool"}]) as stream:
        stream.until_done()


SCENARIOS: dict[str, Callable[[Clients], None]] = {
    fn.__name__: fn for fn in (
        chat_plain, chat_tools_round_trip, chat_stream, chat_stream_tools,
        chat_stream_usage_false, chat_stream_async, chat_error, chat_stream_error, chat_proxy,
        chat_proxy_no_slash, responses_plain,
        responses_reasoning_tools, responses_stream, responses_parse, embeddings,
        anthropic_plain, anthropic_stream, anthropic_stream_error, anthropic_tools,
        anthropic_beta)}


def main(url: str) -> None:
    from ddtrace.llmobs import LLMObs as DatadogLLMObs

    DatadogLLMObs.enable()
    clients = Clients(url)
    for name, scenario in SCENARIOS.items():
        context: Any = DatadogLLMObs.annotation_context(tags={"parity": name})
        with context:
            scenario(clients)
    clients.close()
    DatadogLLMObs.flush()
    DatadogLLMObs.disable()


if __name__ == "__main__":
    main(sys.argv[1])
