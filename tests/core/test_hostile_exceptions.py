"""An exception whose __str__ raises, inside a span of every form: the caller gets its own
exception unchanged, the span ends with what could be read of it, the context is restored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from llmobs_core import LLMObs
from llmobs_core.decorators import tool
from llmobs_core.testing import capture
from tests.support.hostile import BadException

QUALNAME = "tests.support.hostile.BadException"


def _context_manager(error: BaseException) -> None:
    with LLMObs.tool("failing"):
        raise error


def _decorated_function(error: BaseException) -> None:
    @tool(name="failing")
    def fail() -> None:
        raise error

    fail()


def _decorated_generator(error: BaseException) -> None:
    @tool(name="failing")
    def fail():
        yield 1
        raise error

    list(fail())


def _decorated_coroutine(error: BaseException) -> None:
    @tool(name="failing")
    async def fail() -> None:
        await asyncio.sleep(0)
        raise error

    _run(fail())


def _decorated_async_generator(error: BaseException) -> None:
    @tool(name="failing")
    async def fail():
        yield 1
        raise error

    async def consume() -> None:
        async for _ in fail():
            pass

    _run(consume())


def _run(coroutine: Any) -> None:
    """Run on an event loop, keeping the exception from asyncio's own repr of the task (which
    would call the exception's failing repr)."""
    loop = asyncio.new_event_loop()
    try:
        task_ = loop.create_task(coroutine)
        loop.run_until_complete(asyncio.wait([task_]))
        task_.result()
    finally:
        loop.close()


@pytest.mark.parametrize("form", [_context_manager, _decorated_function, _decorated_generator,
                                  _decorated_coroutine, _decorated_async_generator],
                         ids=lambda form: form.__name__.strip("_"))
def test_an_exception_whose_str_raises_passes_through_unchanged(form: Callable) -> None:
    """The very exception object reaches the caller; the span records its type and a stand-in
    message; the span that was active before is active again."""
    error = BadException()
    with capture() as captured:
        with LLMObs.task("outer") as outer:
            with pytest.raises(BadException) as raised:
                form(error)
            assert raised.value is error
            assert LLMObs.current_span() is outer
        assert LLMObs.current_span() is None
    failing = captured.by_name("failing")
    assert failing["status"] == "error"
    assert failing["meta"]["error"]["type"] == QUALNAME
    assert failing["meta"]["error"]["message"] == "<BadException whose str() failed>"
    assert "BadException" in failing["meta"]["error"]["stack"]
    assert captured.by_name("outer")["status"] == "ok"
