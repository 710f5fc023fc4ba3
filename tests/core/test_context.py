"""The active span follows the work: across awaits, asyncio tasks, to_thread, anyio worker
threads and our executor helper; a plain thread pool does not carry it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread

from llmobs_core import ContextThreadPoolExecutor, LLMObs, bind_context
from llmobs_core.testing import capture


def _child(name: str) -> None:
    with LLMObs.tool(name):
        pass


def test_asyncio_tasks_and_to_thread_inherit_the_active_span() -> None:
    """Tasks created inside a span and asyncio.to_thread work are its children."""

    async def main():
        with LLMObs.workflow("root") as root:
            await asyncio.gather(
                asyncio.create_task(asyncio.to_thread(_child, "thread")),
                asyncio.create_task(_achild("task")),
            )
        return root

    async def _achild(name):
        await asyncio.sleep(0)
        _child(name)

    with capture() as captured:
        root = asyncio.run(main())
    for name in ("thread", "task"):
        assert captured.by_name(name)["parent_id"] == str(root.span_id)


def test_anyio_worker_threads_inherit_the_active_span() -> None:
    """anyio.to_thread.run_sync copies context, so spans there are children."""

    async def main():
        with LLMObs.agent("root") as root:
            await anyio.to_thread.run_sync(_child, "anyio-thread")
        return root

    with capture() as captured:
        root = anyio.run(main)
    assert captured.by_name("anyio-thread")["parent_id"] == str(root.span_id)


def test_plain_thread_pool_starts_new_roots_and_the_helpers_keep_the_parent() -> None:
    """ThreadPoolExecutor does not copy context; ContextThreadPoolExecutor and bind_context do."""
    with capture() as captured:
        with LLMObs.workflow("root") as root:
            with ThreadPoolExecutor(1) as plain:
                plain.submit(_child, "plain").result()
            with ContextThreadPoolExecutor(2) as pool:
                list(pool.map(_child, ["mapped-1", "mapped-2"]))
            thread = threading.Thread(target=bind_context(_child), args=("bound",))
            thread.start()
            thread.join()
    assert captured.by_name("plain")["parent_id"] == "undefined"
    for name in ("mapped-1", "mapped-2", "bound"):
        event = captured.by_name(name)
        assert event["parent_id"] == str(root.span_id)
        assert event["trace_id"] == f"{root.trace_id:032x}"


def test_concurrent_tasks_never_cross_their_parents() -> None:
    """Many concurrent task trees each keep their own parent and session."""

    async def request(i: int):
        with LLMObs.workflow(f"req-{i}", session_id=f"s-{i}"):
            await asyncio.sleep(0.001 * (i % 3))
            with LLMObs.llm(name=f"llm-{i}"):
                await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*(request(i) for i in range(50)))

    with capture() as captured:
        asyncio.run(main())
    for i in range(50):
        parent, child = captured.by_name(f"req-{i}"), captured.by_name(f"llm-{i}")
        assert child["parent_id"] == parent["span_id"]
        assert child["session_id"] == f"s-{i}"
