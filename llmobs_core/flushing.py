"""LLMObs.flush(), aflush() and stats(): waiting for delivery, and the counts."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

from ._faults import faults
from .export.writer import DROP_REASONS
from .tracer import state


def seconds(timeout: Any) -> float | None:
    if timeout is None:  # wait as long as it takes
        return None
    kind = type(timeout)
    if issubclass(kind, bool) or not issubclass(kind, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {kind.__name__}")
    value = float(timeout)
    if math.isnan(value):
        raise ValueError("timeout must be a number of seconds, not nan")
    return max(0.0, min(value, threading.TIMEOUT_MAX))


def flush(timeout: Any) -> bool:
    tracer = state.tracer
    return True if tracer is None else tracer.writer.flush(seconds(timeout))


async def aflush(timeout: Any) -> bool:
    timeout = seconds(timeout)
    tracer = state.tracer
    marker = None if tracer is None else tracer.writer.flush_marker()
    if marker is None:
        return True
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def resolve() -> None:
        if not done.done():
            done.set_result(True)

    def wake() -> None:
        loop.call_soon_threadsafe(resolve)

    marker.callbacks.append(wake)
    if marker.done.is_set():
        return True
    try:
        return await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        return False


def stats() -> dict[str, Any]:
    tracer = state.tracer
    if tracer is None:
        counts = {"enqueued": 0, "sent": 0, "pending": 0,
                  "dropped": dict.fromkeys(DROP_REASONS, 0), "sinks": {}}
    else:
        counts = tracer.writer.stats()
    counts["faults"] = dict(faults)
    return counts
