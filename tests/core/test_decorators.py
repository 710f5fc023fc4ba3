"""The decorators on every kind of callable: what they capture, when their spans end."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest

from llmobs_core import LLMObs
from llmobs_core.decorators import agent, embedding, llm, retrieval, task, tool, workflow
from llmobs_core.testing import capture


def test_bare_and_called_forms_capture_arguments_by_name_and_the_return_value() -> None:
    """@workflow records its name, its bound arguments by name as input (ddtrace's shape:
    *args as a list, **kwargs under their own name) and its result as output."""

    @workflow
    def plan(question, depth=2, *extra, **options):
        return {"steps": depth}

    @tool(name="calculator")
    def add(a, b):
        return a + b

    with capture() as captured:
        plan("why?", 3, "x", verbose=True)
        add(1, b=2)
    planned = captured.by_name("plan")
    assert json.loads(planned["meta"]["input"]["value"]) == {
        "question": "why?", "depth": 3, "extra": ["x"], "options": {"verbose": True}}
    assert json.loads(planned["meta"]["output"]["value"]) == {"steps": 3}
    added = captured.by_name("calculator")
    assert added["meta"]["span"]["kind"] == "tool"
    assert json.loads(added["meta"]["input"]["value"]) == {"a": 1, "b": 2}
    assert added["meta"]["output"]["value"] == "3"


def test_methods_do_not_capture_self_or_cls() -> None:
    """self and cls are left out of the captured input; one argument is still a dict by
    name, as in ddtrace."""

    class Agent:
        @agent
        def act(self, goal):
            return "done"

        @classmethod
        @task
        def build(cls, size):
            return size

    with capture() as captured:
        Agent().act("win")
        Agent.build(4)
    assert captured.by_name("act")["meta"]["input"]["value"] == '{"goal": "win"}'
    assert captured.by_name("build")["meta"]["input"]["value"] == '{"size": 4}'


def test_opt_outs_and_annotations_win_over_capture() -> None:
    """capture_input/capture_output=False record nothing; annotate() inside beats capture."""

    @task(capture_input=False, capture_output=False)
    def secret(password):
        return password

    @workflow
    def annotated(x):
        LLMObs.annotate(input_data="custom in", output_data="custom out")
        return "ignored"

    with capture() as captured:
        secret("hunter2")
        annotated(1)
    assert "input" not in captured.by_name("secret")["meta"]
    assert "output" not in captured.by_name("secret")["meta"]
    meta = captured.by_name("annotated")["meta"]
    assert meta["input"] == {"value": "custom in"} and meta["output"] == {"value": "custom out"}


def test_llm_embedding_and_retrieval_captures_take_their_kinds_shapes() -> None:
    """Captured values are shaped per kind: messages, documents, or a value."""

    @llm(model_name="gpt-4o", model_provider="openai")
    def complete(prompt):
        return "an answer"

    @embedding(model_name="text-embedding-3-small")
    def embed(texts):
        return [[0.1, 0.2]]

    @retrieval
    def search(query):
        return [{"text": "doc one", "id": "1", "score": 0.9}]

    with capture() as captured:
        complete("a question")
        embed(["hello", "world"])
        search("q")
    completed = captured.by_name("complete")["meta"]
    assert completed["input"] == {"messages": [{"content": "a question"}]}
    assert completed["output"] == {"messages": [{"content": "an answer"}]}
    assert completed["model_name"] == "gpt-4o" and completed["model_provider"] == "openai"
    embedded = captured.by_name("embed")["meta"]
    assert embedded["input"] == {"documents": [{"text": "hello"}, {"text": "world"}]}
    assert embedded["output"] == {"value": "[[0.1, 0.2]]"}
    searched = captured.by_name("search")["meta"]
    assert searched["input"] == {"value": "{\"query\": \"q\"}"}
    assert searched["output"] == {"documents": [{"text": "doc one", "id": "1", "score": 0.9}]}


def test_unknown_kind_or_option_raises_at_decoration_time() -> None:
    """A typo in a kind or option is a programming error found when the module loads."""
    with pytest.raises(ValueError, match="unknown span kind 'chain'.*workflow"):
        LLMObs.wrap(kind="chain")
    with pytest.raises(TypeError, match="unknown option"):
        workflow(colour="red")


def test_wrap_is_the_generic_decorator() -> None:
    """LLMObs.wrap(kind=..., name=...)(fn) traces fn like the per-kind decorators."""
    traced = LLMObs.wrap(kind="agent", name="planner", session_id="s9")(lambda goal: goal * 2)
    with capture() as captured:
        assert traced("ab") == "abab"
    (event,) = captured.spans
    assert event["name"] == "planner" and event["session_id"] == "s9"
    assert event["meta"]["span"]["kind"] == "agent"


def test_decorated_coroutine_is_parent_of_spans_across_awaits() -> None:
    """A coroutine's span stays the parent across awaits and of tasks it creates."""

    @tool
    async def fetch(n):
        await asyncio.sleep(0)
        return n

    @workflow
    async def gather():
        return await asyncio.gather(fetch(1), asyncio.create_task(fetch(2)))

    with capture() as captured:
        assert asyncio.run(gather()) == [1, 2]
    root = captured.by_name("gather")
    children = [e for e in captured.spans if e["name"] == "fetch"]
    assert len(children) == 2
    assert all(c["parent_id"] == root["span_id"] for c in children)
    assert json.loads(root["meta"]["output"]["value"]) == [1, 2]


def test_cancelled_coroutine_span_ends_marked_as_cancelled() -> None:
    """Cancelling a decorated coroutine ends its span as cancelled; the cancel propagates."""

    @task
    async def slow():
        await asyncio.sleep(10)

    async def main():
        running = asyncio.create_task(slow())
        await asyncio.sleep(0.01)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    with capture() as captured:
        asyncio.run(main())
    (event,) = captured.spans
    assert event["status"] == "error"
    assert event["meta"]["error"]["type"] == "asyncio.exceptions.CancelledError"
    assert "cancelled:true" in event["tags"]


def test_generator_span_covers_the_whole_iteration_and_is_parent_only_inside_it() -> None:
    """A generator's span ends when exhausted, is the parent of spans opened in its body, and
    is not active in the consumer's code between items."""

    @workflow
    def stream(n):
        for i in range(n):
            with LLMObs.task(f"produce-{i}"):
                pass
            yield i
        return "finished"

    with capture() as captured:
        seen = []
        for item in stream(2):
            seen.append((item, LLMObs.current_span()))
    assert seen == [(0, None), (1, None)]
    root = captured.by_name("stream")
    for i in range(2):
        assert captured.by_name(f"produce-{i}")["parent_id"] == root["span_id"]
    assert root["meta"]["output"] == {"value": "finished"}
    assert root["duration"] > max(captured.by_name(f"produce-{i}")["duration"] for i in range(2))


def test_generator_send_throw_and_error_are_passed_through() -> None:
    """send() and throw() reach the user's generator; its exception marks the span."""

    @task
    def echo():
        received = yield "ready"
        while True:
            try:
                received = yield received * 2
            except ValueError:
                raise RuntimeError("bad input") from None

    with capture() as captured:
        gen = echo()
        assert next(gen) == "ready"
        assert gen.send(21) == 42
        with pytest.raises(RuntimeError, match="bad input"):
            gen.throw(ValueError("x"))
    (event,) = captured.spans
    assert event["status"] == "error" and event["meta"]["error"]["type"] == "builtins.RuntimeError"


def test_abandoned_and_closed_generators_end_their_spans() -> None:
    """A generator closed early, or dropped and collected, still ends its span, as ok."""

    @task
    def numbers():
        yield from range(100)

    with capture() as captured:
        closed = numbers()
        next(closed)
        closed.close()
        dropped = numbers()
        next(dropped)
        del dropped
        gc.collect()
    assert [e["status"] for e in captured.spans] == ["ok", "ok"]


def test_async_generator_span_covers_iteration_including_abandonment() -> None:
    """An async generator's span covers its iteration, parents spans inside it, and ends when
    exhausted or closed early."""

    @retrieval
    async def pages(n):
        for i in range(n):
            with LLMObs.task(f"page-{i}"):
                await asyncio.sleep(0)
            yield i

    async def main():
        assert [i async for i in pages(2)] == [0, 1]
        early = pages(5)
        assert await early.__anext__() == 0
        await early.aclose()

    with capture() as captured:
        asyncio.run(main())
    roots = [e for e in captured.spans if e["name"] == "pages"]
    assert len(roots) == 2 and all(r["status"] == "ok" for r in roots)
    children_per_root = sorted(
        sum(1 for e in captured.spans if e["parent_id"] == root["span_id"]) for root in roots)
    assert children_per_root == [1, 2]


def test_async_generator_exception_marks_error() -> None:
    """An exception raised in an async generator marks its span and propagates."""

    @agent
    async def failing():
        yield 1
        raise LookupError("gone")

    async def main():
        with pytest.raises(LookupError):
            async for _ in failing():
                pass

    with capture() as captured:
        asyncio.run(main())
    assert captured.spans[0]["meta"]["error"]["type"] == "builtins.LookupError"


def test_decorators_run_the_function_unchanged_when_disabled() -> None:
    """With llmobs disabled the decorated function, coroutine and generator behave the same."""

    @workflow
    def f(x):
        return x + 1

    @task
    async def g(x):
        return x * 2

    @tool
    def h():
        yield from (1, 2)

    @retrieval
    async def a():
        yield 3

    async def consume():
        return [i async for i in a()]

    assert f(1) == 2 and asyncio.run(g(2)) == 4 and list(h()) == [1, 2]
    assert asyncio.run(consume()) == [3]
