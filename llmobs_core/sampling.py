"""Trace sampling: keep or drop a whole trace, decided once at its root.

The decision hashes the low 64 bits of the APM trace id as Datadog's tracers do (ddtrace's
LLMObs sampler, dd-trace-js's sampler.js): kept when (id * 1111111111111111111) mod 2**64 is at
most rate * (2**64 - 1). Services that share a trace id and a rate thus agree without talking;
a decision that arrives in the headers (_dd.p.llmobs_sd) beats the local rate. Unlike Datadog's
SDKs, which send sampled-out spans marked for the intake to drop, llmobs drops them here and
counts them (docs/distributed-tracing.md, "Sampling").
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

KNUTH_FACTOR = 1111111111111111111
_MAX_64 = 2**64 - 1
_RATE = re.compile(r"(?:0|1)(?:\.[0-9]{1,17})?|\.[0-9]{1,17}")
MAX_REMEMBERED_TRACES = 10_000


def keeps(apm_trace_id: int, rate: float) -> bool:
    """Whether a trace is kept at `rate`; the same answer in every Datadog tracer."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    return (apm_trace_id & _MAX_64) * KNUTH_FACTOR & _MAX_64 <= rate * _MAX_64


def format_rate(rate: float) -> str:
    """As Datadog's tracers write a rate: at most 6 decimals, trailing zeros stripped."""
    return f"{math.floor(rate * 1e6 + 0.5) / 1e6:.6f}".rstrip("0").rstrip(".")


def parse_rate(text: str | None) -> float | None:
    """A propagated rate: a decimal from 0 to 1; None when absent or malformed."""
    if text is None or not _RATE.fullmatch(text):
        return None
    rate = float(text)
    return rate if rate <= 1.0 else None


def parse_decision(text: str | None) -> bool | None:
    """A propagated decision: "1" kept, "0" dropped; anything else is no decision."""
    return True if text == "1" else False if text == "0" else None


def checked_rate(value: Any, setting: str) -> float:
    """A sample rate given to enable() or the environment: a number from 0 to 1, else
    ValueError (TypeError for what is not a number) naming the setting."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{setting}={value!r} is not a number from 0 to 1") from None
    elif issubclass(type(value), bool) or not issubclass(type(value), (int, float)):
        raise TypeError(f"{setting} must be a number from 0 to 1, not {type(value).__name__}")
    else:
        number = float(value)
    if not 0.0 <= number <= 1.0:  # NaN fails this too
        raise ValueError(f"{setting} must be a number from 0 to 1, got {number!r}")
    return number


class SampledOut:
    """What sampling dropped: how many spans, and the most recent sampled-out trace ids, so
    that the writer drops the evaluations joined to them too. The caller's side takes no lock:
    itertools.count's next() and single dict operations are atomic under the GIL."""

    __slots__ = ("_spans", "_reads", "traces")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._spans = itertools.count()
        self._reads = 0
        self.traces: dict[int, None] = {}  # insertion-ordered: the oldest goes first

    def span(self, record: Any) -> None:
        """A span's on_finish once its trace is sampled out."""
        next(self._spans)

    def trace(self, trace_id: int) -> None:
        traces = self.traces
        traces[trace_id] = None
        if len(traces) > MAX_REMEMBERED_TRACES:
            traces.pop(next(iter(traces)), None)

    def span_count(self) -> int:
        """Spans dropped so far; the caller serializes calls (the writer's counts lock)."""
        reads = self._reads
        self._reads = reads + 1
        return next(self._spans) - reads

    def joins_dropped_trace(self, evaluation: Any) -> bool:
        """Whether an evaluation event joins on a span of a trace sampled out here."""
        if not self.traces:
            return False
        join_on = evaluation.get("join_on") if type(evaluation) is dict else None
        span = join_on.get("span") if type(join_on) is dict else None
        trace_hex = span.get("trace_id") if type(span) is dict else None
        if type(trace_hex) is not str:
            return False
        try:
            return int(trace_hex, 16) in self.traces
        except ValueError:
            return False
