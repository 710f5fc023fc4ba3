"""A sink that prints each span as one readable line (and each evaluation), for demos and
debugging."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from .base import Event


class ConsoleSink:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send_spans(self, events: Sequence[Event]) -> None:
        # Every line is made before any is written: a batch is printed whole or not at all.
        self._write([_span_line(event) for event in events])

    def send_evaluations(self, metrics: list[Event]) -> None:
        self._write([_evaluation_line(metric) for metric in metrics])

    def _write(self, lines: list[str]) -> None:
        stream = self._stream or sys.stdout
        stream.write("".join(lines))
        stream.flush()

    def shutdown(self) -> None:
        return None


def _span_line(event: Event) -> str:
    kind = event["meta"]["span"]["kind"]
    ml_app = next((t[7:] for t in event["tags"] if t.startswith("ml_app:")), "")
    error = event["meta"].get("error")
    status = f"error {error['type']}: {error['message']}" if error else "ok"
    return (f"[llmobs] {kind:<9} {event['name']:<28} {event['duration'] / 1e6:8.2f} ms  "
            f"{status:<6} ml_app={ml_app} trace={event['trace_id']} "
            f"span={event['span_id']} parent={event['parent_id']}\n")


def _evaluation_line(metric: Event) -> str:
    value = metric.get(f"{metric['metric_type']}_value")
    return f"[llmobs] evaluation {metric['label']}={value!r} join_on={metric['join_on']}\n"
