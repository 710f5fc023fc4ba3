"""The OTLP sink: span events as OTLP/HTTP protobuf through OpenTelemetry's own exporter
package (the "otlp" extra), with the same trace and span ids as the Datadog form. It builds
ReadableSpan records itself: the global tracer provider is never touched."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

from .._log import warn_limited
from ..span import new_span_id
from ._http import DeliveryError
from ._otlp_mapping import evaluation_attributes, span_attributes
from .base import Event, tracer_version

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event as SpanEvent
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the OTLP exporter needs OpenTelemetry's OTLP/HTTP exporter: "
                      "pip install 'llmobs[otlp]'") from exc

__all__ = ["OTLPSink"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_CLIENT_KINDS = frozenset(("llm", "embedding"))
_OK = Status(StatusCode.OK)
_MAX_RESOURCES = 1_000


def _context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)


class OTLPSink:
    """`endpoint` is the URL spans are POSTed to (…/v1/traces); None lets the exporter read
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT. `headers` are added to
    OTEL_EXPORTER_OTLP_HEADERS; `timeout` None means OTEL_EXPORTER_OTLP_TIMEOUT or 10 s.
    `exporter` swaps in any OpenTelemetry SpanExporter. After shutdown() the sink is done:
    give each enable() a new one.

    Everything the sink needs is made here, not when the first batch goes: that may be during
    the exit drain, when the interpreter no longer runs new thread-pool work (OpenTelemetry's
    resource detection does)."""

    def __init__(self, endpoint: str | None = None, headers: Mapping[str, str] | None = None,
                 *, service: str | None = None, env: str | None = None,
                 version: str | None = None, timeout: float | None = None,
                 exporter: SpanExporter | None = None) -> None:
        self._endpoint = endpoint
        self._new_exporter = functools.partial(
            OTLPSpanExporter, endpoint=endpoint, timeout=timeout,
            headers=dict(headers) if headers else None)
        self._own_exporter = exporter is None
        self._exporter = exporter or self._new_exporter()
        self._pid = os.getpid()
        self._service = service
        static = {key: value for key, value in (
            ("service.version", version), ("deployment.environment.name", env)) if value}
        self._base_resource = Resource.create(static)  # runs the resource detectors, once
        self._resources: dict[str, Resource] = {}
        self._scope = InstrumentationScope("llmobs", tracer_version())

    @classmethod
    def from_config(cls, config: Any) -> OTLPSink:
        return cls(config.otlp_endpoint, config.otlp_headers, service=config.service,
                   env=config.env, version=config.version)

    def __repr__(self) -> str:
        return f"<OTLPSink endpoint={self._endpoint or '(from OTEL_EXPORTER_OTLP_*)'}>"

    # -- the Sink contract (called from the writer thread) --------------------------------------

    def send_spans(self, events: Sequence[Event]) -> None:
        self._export([self._span(event) for event in events], "span events")

    def send_evaluations(self, metrics: list[Event]) -> None:
        """Evaluations of a span go as EVALUATOR spans under it (OTLP has no evaluation
        signal); those joined on a tag have no span to hang from and are left out."""
        spans = [self._evaluation(m) for m in metrics if "span" in m.get("join_on", {})]
        left_out = len(metrics) - len(spans)
        if left_out:
            warn_limited("otlp.tag_evaluations", "llmobs: %d evaluations joined on a tag were "
                         "not sent over OTLP: only evaluations of a span are", left_out)
        if spans:
            self._export(spans, "evaluations")

    def shutdown(self) -> None:
        self._exporter.shutdown()

    # -- building OpenTelemetry records ---------------------------------------------------------

    def _export(self, spans: list[ReadableSpan], what: str) -> None:
        if self._own_exporter and self._pid != os.getpid():
            # A forked child must not share the parent's pooled connections.
            self._pid = os.getpid()
            self._exporter = self._new_exporter()
        if self._exporter.export(spans) is not SpanExportResult.SUCCESS:
            raise DeliveryError(f"{len(spans)} {what} not accepted by the OTLP endpoint "
                                f"{self._endpoint or '(from OTEL_EXPORTER_OTLP_*)'}")

    def _resource(self, ml_app: str) -> Resource:
        """One resource per ml_app, so that Phoenix shows each ml_app as a project."""
        resource = self._resources.get(ml_app)
        if resource is None:
            if len(self._resources) >= _MAX_RESOURCES:
                self._resources.clear()
            resource = self._base_resource.merge(Resource({
                "service.name": self._service or ml_app, "openinference.project.name": ml_app}))
            self._resources[ml_app] = resource
        return resource

    def _span(self, event: Event) -> ReadableSpan:
        trace_id = int(event["trace_id"], 16)
        parent_id = event.get("parent_id")
        parent = None if parent_id in (None, "undefined") else _context(trace_id, int(parent_id))
        attributes = span_attributes(event)
        start = event["start_ns"]
        end = start + event["duration"]
        meta = event["meta"]
        error = meta.get("error")
        status, events = _OK, cast("tuple[Any, ...]", ())
        if error:
            status = Status(StatusCode.ERROR, f"{error.get('type')}: {error.get('message')}")
            events = (SpanEvent("exception", {
                "exception.type": error.get("type") or "", "exception.message":
                error.get("message") or "", "exception.stacktrace": error.get("stack") or ""},
                timestamp=end),)
        return ReadableSpan(
            name=event["name"], context=_context(trace_id, int(event["span_id"])), parent=parent,
            resource=self._resource(attributes.get("llmobs.ml_app", "unnamed-ml-app")),
            attributes=attributes, events=events, status=status, start_time=start, end_time=end,
            kind=SpanKind.CLIENT if meta["span"]["kind"] in _CLIENT_KINDS else SpanKind.INTERNAL,
            instrumentation_scope=self._scope)

    def _evaluation(self, metric: Event) -> ReadableSpan:
        joined = metric["join_on"]["span"]
        trace_id = int(joined["trace_id"], 16)
        at = int(metric["timestamp_ms"]) * 1_000_000
        attributes = evaluation_attributes(metric)
        return ReadableSpan(
            name=f"evaluation:{metric['label']}",
            context=_context(trace_id, new_span_id()),
            parent=_context(trace_id, int(joined["span_id"])),
            resource=self._resource(metric.get("ml_app") or "unnamed-ml-app"),
            attributes=attributes, status=_OK, start_time=at, end_time=at,
            kind=SpanKind.INTERNAL, instrumentation_scope=self._scope)
