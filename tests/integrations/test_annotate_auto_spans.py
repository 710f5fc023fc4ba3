"""A user's LLMObs.annotate() and auto-instrumented llm spans: which span it reaches while the
client works, while the user's code reads a stream, and after the call (the rule is in
docs/integrations-openai.md, "Annotating an auto span")."""

from __future__ import annotations

import asyncio

import httpx
import openai

from llmobs_core import LLMObs
from tests.integrations.conftest import async_anthropic, async_openai

USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def tags_of(span: dict) -> dict[str, str]:
    return dict(tag.split(":", 1) for tag in span["tags"])


def test_annotate_in_a_stream_loop_reaches_the_llm_span_not_the_spans_opened_there(spans, oai):
    """While the code reads a stream, annotate() and export_span() reach its llm span; a span
    opened in the loop is a child of the caller's span and gets its own annotations; after
    the stream ends, annotate() reaches the caller's span again."""
    with LLMObs.workflow("turn"):
        stream = oai.chat.completions.create(model="gpt-4o-mini", stream=True, messages=USER)
        exported = []
        for index, _ in enumerate(stream):
            LLMObs.annotate(tags={"seen": "yes"}, metadata={"chunk": index})
            exported.append(LLMObs.export_span())
            with LLMObs.tool("on-chunk"):
                LLMObs.annotate(tags={"tool": "yes"})
        LLMObs.annotate(tags={"after": "yes"})
    llm = spans.by_name("OpenAI.createChatCompletion")
    workflow = spans.by_name("turn")
    tools = [span for span in spans.spans if span["name"] == "on-chunk"]
    assert tags_of(llm)["seen"] == "yes" and "after" not in tags_of(llm)
    assert llm["meta"]["metadata"]["chunk"] == index and "finish_reason" in llm["meta"]["metadata"]
    assert {e["span_id"] for e in exported} == {llm["span_id"]}
    assert {t["parent_id"] for t in tools} == {workflow["span_id"]} == {llm["parent_id"]}
    assert all(tags_of(t)["tool"] == "yes" and "seen" not in tags_of(t) for t in tools)
    assert tags_of(workflow)["after"] == "yes" and "seen" not in tags_of(workflow)


def test_annotate_in_async_and_helper_stream_loops(spans, fake_models):
    """The same in an async stream loop and in an Anthropic stream helper's text_stream: each
    llm span gets the annotations made while its own stream was read."""
    async def main() -> None:
        async with async_openai(fake_models) as oai, async_anthropic(fake_models) as ant:
            with LLMObs.workflow("turn"):
                stream = await oai.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                           messages=USER)
                async for _ in stream:
                    LLMObs.annotate(tags={"client": "openai"})
                async with ant.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                               messages=USER) as helper:
                    async for _ in helper.text_stream:
                        LLMObs.annotate(tags={"client": "anthropic"}, metadata={"k": 1})

    asyncio.run(main())
    chat = spans.by_name("OpenAI.createChatCompletion")
    message = spans.by_name("anthropic.request")
    assert tags_of(chat)["client"] == "openai" and tags_of(message)["client"] == "anthropic"
    assert message["meta"]["metadata"]["k"] == 1
    assert "client" not in tags_of(spans.by_name("turn"))


def test_annotate_while_the_client_works_reaches_the_llm_span(spans, fake_models):
    """The auto span is the active span while the client's method runs, so code the client
    calls (here an httpx event hook) annotates it; the user's metadata wins over what was
    read from the request."""
    def hook(response: httpx.Response) -> None:
        LLMObs.annotate(tags={"status": str(response.status_code)}, metadata={"user": "hook"})

    with httpx.Client(event_hooks={"response": [hook]}) as http, openai.OpenAI(
            base_url=fake_models.url + "/openai/v1", api_key="sk-fake", http_client=http) as oai:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER, user="u-1")
    span = spans.by_name("OpenAI.createChatCompletion")
    assert tags_of(span)["status"] == "200"
    assert span["meta"]["metadata"]["user"] == "hook"


def test_after_a_call_or_a_closed_stream_annotate_reaches_the_callers_span(spans, oai):
    """A call that returned has a finished span, so annotate() after it reaches the caller's
    span, as in Datadog's SDK; a stream left with `break` is still being read until it is
    closed, then the caller's span is reached again."""
    with LLMObs.workflow("turn"):
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
        LLMObs.annotate(tags={"after_call": "yes"})
        stream = oai.chat.completions.create(model="gpt-4o-mini", stream=True, messages=USER)
        for _ in stream:
            break
        LLMObs.annotate(tags={"after_break": "yes"})
        stream.close()
        LLMObs.annotate(tags={"after_close": "yes"})
    plain, streamed = [s for s in spans.spans if s["name"] == "OpenAI.createChatCompletion"]
    workflow = tags_of(spans.by_name("turn"))
    assert workflow["after_call"] == "yes" and workflow["after_close"] == "yes"
    assert "after_call" not in tags_of(plain)
    assert tags_of(streamed)["after_break"] == "yes" and "after_close" not in tags_of(streamed)
