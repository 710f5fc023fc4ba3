"""The OTLP sink's spans handed to an OpenTelemetry SpanExporter of the application's own
(OTLPSink(exporter=...)), as the SDK's ReadableSpan records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as SpanEvent
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._http import DeliveryError
from .base import tracer_version

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_OK = Status(StatusCode.OK)


def _context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)


class SDKExport:
    def __init__(self, exporter: SpanExporter,
                 resource_attributes: Callable[[str], dict[str, Any]]) -> None:
        self._exporter = exporter
        self._resource_attributes = resource_attributes
        self._resources: dict[str, Resource] = {}
        self._scope = InstrumentationScope("llmobs", tracer_version())

    def export(self, spans: list[Any], what: str) -> None:
        if self._exporter.export([self._readable(s) for s in spans]) is not (
                SpanExportResult.SUCCESS):
            raise DeliveryError(f"{len(spans)} {what} not accepted by {self._exporter!r}")

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def _readable(self, data: Any) -> ReadableSpan:
        ml_app = data.application()
        resource = self._resources.get(ml_app)
        if resource is None:
            resource = self._resources[ml_app] = Resource(self._resource_attributes(ml_app))
        status, events = _OK, cast("tuple[SpanEvent, ...]", ())
        if data.error is not None:
            message, attributes = data.error
            status = Status(StatusCode.ERROR, message)
            events = (SpanEvent("exception", attributes, timestamp=data.end_ns),)
        return ReadableSpan(
            name=data.name, context=_context(data.trace_id, data.span_id),
            parent=None if data.parent_id is None else _context(data.trace_id, data.parent_id),
            resource=resource, attributes=data.all_attributes(), events=events, status=status,
            start_time=data.start_ns, end_time=data.end_ns,
            kind=SpanKind.CLIENT if data.kind == "client" else SpanKind.INTERNAL,
            instrumentation_scope=self._scope)
