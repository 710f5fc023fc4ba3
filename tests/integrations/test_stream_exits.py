"""The streaming exit-path matrix, OpenAI and Anthropic, sync and async: whichever way the
caller leaves a stream (exhausted, break then garbage-collected, close(), the context manager's
exit, an error mid-stream, cancellation of the consuming task), its span ends once, right then,
with what arrived; and the caller sees exactly the items it would see without llmobs."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import openai
import pytest

from llmobs_core import LLMObs
from llmobs_core.testing import capture
from tests.integrations.conftest import async_anthropic, async_openai

PROVIDERS = ("openai", "anthropic")
PROMPT = "one two three four five six seven"
NAMES = {"openai": "OpenAI.createChatCompletion", "anthropic": "anthropic.request"}
ERRORS = {("openai", "error_event"): openai.APIError,
          ("openai", "dropped"): openai.APIConnectionError,
          ("anthropic", "error_event"): anthropic.APIStatusError,
          ("anthropic", "dropped"): anthropic.APIConnectionError}
DIRECTIVES = {"error_event": " fake:stream_error=4", "dropped": " fake:break=4"}


def _open_sync(provider: str, url: str, prompt: str) -> Any:
    if provider == "openai":
        client = openai.OpenAI(base_url=url + "/openai/v1", api_key="x", max_retries=0)
        return client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                              messages=[{"role": "user", "content": prompt}])
    client = anthropic.Anthropic(base_url=url + "/anthropic", api_key="x", max_retries=0)
    return client.messages.create(model="claude-sonnet-4-5", max_tokens=100, stream=True,
                                  messages=[{"role": "user", "content": prompt}])


def _async_client(provider: str, fake: Any) -> Any:
    return async_openai(fake) if provider == "openai" else async_anthropic(fake)


async def _open_async(provider: str, client: Any, prompt: str) -> Any:
    if provider == "openai":
        return await client.chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": prompt}])
    return await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, stream=True,
        messages=[{"role": "user", "content": prompt}])


def _consume_sync(stream: Any, path: str) -> list[Any]:
    seen: list[Any] = []
    if path == "break":
        for item in stream:
            seen.append(item)
            break
    elif path == "close":
        seen.append(next(stream))
        stream.close()
    elif path == "with":
        with stream as entered:
            assert entered is stream
            seen.append(next(entered))
    else:
        for item in stream:
            seen.append(item)
    return seen


async def _consume_async(stream: Any, path: str) -> list[Any]:
    seen: list[Any] = []
    if path == "break":
        async for item in stream:
            seen.append(item)
            break
    elif path == "close":
        seen.append(await stream.__anext__())
        await stream.close()
    elif path == "with":
        async with stream as entered:
            assert entered is stream
            seen.append(await entered.__anext__())
    else:
        async for item in stream:
            seen.append(item)
    return seen


def _run(provider: str, fake: Any, path: str, sync: bool) -> tuple[list[Any], Any]:
    prompt = PROMPT + DIRECTIVES.get(path, "")
    error = ERRORS.get((provider, path))
    if sync:
        def call() -> list[Any]:
            return _consume_sync(_open_sync(provider, fake.url, prompt), path)
    else:
        def call() -> list[Any]:
            return asyncio.run(_consume_async_fresh(provider, fake, prompt, path))
    if error is None:
        return call(), None
    with pytest.raises(error) as raised:
        call()
    return [], raised.value


async def _consume_async_fresh(provider: str, fake: Any, prompt: str, path: str) -> list[Any]:
    async with _async_client(provider, fake) as client:
        return await _consume_async(await _open_async(provider, client, prompt), path)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
@pytest.mark.parametrize("path", ["exhausted", "break", "close", "with", "error_event",
                                  "dropped"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_span_ends_on_every_exit_path(spans, fake_models, provider, path, sync):
    """The span has ended when the caller's code leaves the stream, whichever way: status ok
    with the output so far, or status error with the client's exception and partial output."""
    fake_models.clear()
    seen, error = _run(provider, fake_models, path, sync)
    gc.collect()  # the abandoned stream of `break` (CPython frees it sooner, by refcount)
    LLMObs.flush()
    [span] = spans.spans
    assert span["name"] == NAMES[provider]
    output = span["meta"].get("output", {}).get("messages", [{}])
    if error is None:
        assert span["status"] == "ok"
        assert span["metrics"]["time_to_first_token"] > 0
    else:
        assert span["status"] == "error"
        assert span["meta"]["error"]["type"] == f"{provider}.{type(error).__name__}"
        assert output[0]["content"].startswith("Fake answer")  # partial output kept
    if path == "exhausted":
        assert output[-1]["content"] == f"Fake answer to: {PROMPT}"
        assert span["metrics"]["output_tokens"] > 0 and span["metrics"]["input_tokens"] > 0
        if provider == "openai":  # usage was asked for, and its chunk hidden from the caller
            assert fake_models.bodies("/chat/completions")[-1]["stream_options"] == {
                "include_usage": True}
            assert all(chunk.choices for chunk in seen)
    else:
        assert len(seen) <= 4


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cancelling_the_consuming_task_ends_the_span(spans, fake_models, provider):
    """A task cancelled while it reads a slow stream: the span ends as an error
    (CancelledError), with the output that had arrived."""
    async def main() -> None:
        async with _async_client(provider, fake_models) as client:
            stream = await _open_async(provider, client, PROMPT + " fake:chunk_delay=0.05")
            first = asyncio.Event()

            async def read() -> None:
                async for _ in stream:
                    first.set()

            task = asyncio.create_task(read())
            await first.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    [span] = spans.spans
    assert span["status"] == "error"
    assert span["meta"]["error"]["type"] == "asyncio.exceptions.CancelledError"


def test_caller_sees_every_chunk_with_several_choices(oai):
    """n=2: every content chunk of both choices reaches the caller (Datadog's SDK loses one
    to its usage-chunk lookahead), and each choice's output is rebuilt."""
    def chunks() -> list[Any]:
        return [c.model_dump()["choices"] for c in oai.chat.completions.create(
            model="gpt-4o-mini", n=2, stream=True,
            messages=[{"role": "user", "content": PROMPT}])]

    expected = chunks()  # llmobs disabled
    with capture() as spans:
        seen = chunks()
    assert seen == expected
    [span] = spans.spans
    assert [m["content"] for m in span["meta"]["output"]["messages"]] == [
        f"Fake answer to: {PROMPT}", f"Fake answer to: {PROMPT} (choice 1)"]


@pytest.mark.parametrize("include_usage", [True, False])
def test_callers_own_usage_choice_is_respected(spans, oai, fake_models, include_usage):
    """A caller who set include_usage sees the usage chunk when it is true (and the span has
    the tokens); when it is false, nothing is injected and the span has no token counts."""
    chunks = list(oai.chat.completions.create(
        model="gpt-4o-mini", stream=True, stream_options={"include_usage": include_usage},
        messages=[{"role": "user", "content": PROMPT}]))
    assert (chunks[-1].usage is not None) is include_usage
    assert ("input_tokens" in spans.spans[0]["metrics"]) is include_usage


def test_streamed_tool_call_is_assembled(spans, oai):
    """Tool-call deltas are assembled by index into one call with parsed arguments."""
    list(oai.chat.completions.create(model="gpt-4o-mini", stream=True, tools=[{
        "type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}],
        messages=[{"role": "user", "content": "Weather? fake:tool"}]))
    [message] = spans.spans[0]["meta"]["output"]["messages"]
    assert message["tool_calls"][0]["name"] == "get_weather"
    assert isinstance(message["tool_calls"][0]["arguments"], dict)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_openai_stream_helper_ends_at_the_managers_exit(spans, fake_models, sync):
    """chat.completions.stream(): leaving the `with` block after one event ends the span."""
    messages = [{"role": "user", "content": PROMPT}]
    if sync:
        client = openai.OpenAI(base_url=fake_models.url + "/openai/v1", api_key="x")
        with client.chat.completions.stream(model="gpt-4o-mini", messages=messages) as stream:
            next(iter(stream))
    else:
        async def main() -> None:
            async with async_openai(fake_models) as client, client.chat.completions.stream(
                    model="gpt-4o-mini", messages=messages) as stream:
                async for _ in stream:
                    break

        asyncio.run(main())
    [span] = spans.spans
    assert span["status"] == "ok" and span["name"] == "OpenAI.createChatCompletion"


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_anthropic_stream_helper(spans, fake_models, sync):
    """messages.stream(): the final text read through the helper is the span's output, with
    token counts; leaving early ends the span too."""
    messages = [{"role": "user", "content": PROMPT}]
    if sync:
        client = anthropic.Anthropic(base_url=fake_models.url + "/anthropic", api_key="x")
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                    messages=messages) as stream:
            text = stream.get_final_text()
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                    messages=messages) as stream:
            next(iter(stream))
    else:
        async def main() -> str:
            async with async_anthropic(fake_models) as client:
                return await both(client)

        async def both(client: Any) -> str:
            async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                              messages=messages) as stream:
                final = await stream.get_final_text()
            async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100,
                                              messages=messages) as stream:
                async for _ in stream:
                    break
            return final

        text = asyncio.run(main())
    whole, early = spans.spans
    assert whole["meta"]["output"]["messages"] == [{"role": "assistant", "content": text}]
    assert whole["metrics"]["output_tokens"] > 0
    assert early["status"] == "ok" and early["name"] == "anthropic.request"
