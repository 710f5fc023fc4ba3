"""The OTLP sink: span events as OTLP/HTTP protobuf, encoded straight from the events
(_otlp_wire.py) and POSTed with the same retries as the Datadog sink, with the same trace and
span ids as the Datadog form. No OpenTelemetry SDK object is made on this path, and the
global tracer provider is never touched. `exporter=` hands spans to an OpenTelemetry
SpanExporter of your own instead (_otlp_sdk.py)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, NamedTuple

from .._log import warn_limited
from ..sampling import format_rate
from ..span import RareFields, SpanRecord, new_span_id, new_trace_id
from ..span_events import EventBuilder, shared_meta
from . import _otlp_wire as wire
from ._http import DeliveryError, Origin, RetryPolicy, post_with_retries
from ._otlp_mapping import (
    FixedKey,
    attributes_of,
    evaluation_attributes,
    fixed_attributes,
    fixed_key,
    key_of,
    varying_attributes,
)
from ._otlp_settings import OTLPSettings, resource_attributes
from ._secret import Secret
from .base import Event, builder_of, tracer_version

__all__ = ["OTLPSink", "SpanData"]

_CLIENT_KINDS: Final = frozenset(("llm", "embedding"))
_MAX_RESOURCES: Final = 1_000
_MAX_FIXED: Final = 4_096


class SpanData(NamedTuple):
    """What one OTLP span says, from a span event or an evaluation."""

    ml_app: str | None  # None for a span event: its fixed attributes name it (application())
    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    kind: str  # "internal" or "client"
    start_ns: int
    end_ns: int
    fixed: FixedKey | None  # a span event's fixed_key(): the attributes most spans share
    attributes: dict[str, Any]  # the others
    error: tuple[str, dict[str, Any]] | None  # status message, exception event attributes

    def all_attributes(self) -> dict[str, Any]:
        if self.fixed is None:
            return self.attributes
        return {**fixed_attributes(self.fixed), **self.attributes}

    def application(self) -> str:
        """The ml_app, which names the span's resource."""
        if self.fixed is None:
            return self.ml_app or "unnamed-ml-app"
        return fixed_attributes(self.fixed).get("llmobs.ml_app", "unnamed-ml-app")


def span_data(event: Event) -> SpanData:
    parent_id = event.get("parent_id")
    start = event["start_ns"]
    meta = event["meta"]
    # tuple.__new__ skips the Python call of the NamedTuple's generated __new__.
    return _new(SpanData, (None, int(event["trace_id"], 16), int(event["span_id"]),
                           None if parent_id in (None, "undefined") else int(parent_id),
                           event["name"],
                           "client" if meta["span"]["kind"] in _CLIENT_KINDS else "internal",
                           start, start + event["duration"], fixed_key(event),
                           varying_attributes(event), _error(meta)))


def record_span_data(builder: EventBuilder, record: SpanRecord) -> SpanData:
    """span_data(builder.build(record)), without building the event. Raises where build()
    would, and on ids that are not ints (whose event may say something else)."""
    (kind, name, trace_id, span_id, parent_id, apm_trace_id, ml_app, session_id, model_name,
     model_provider, start_ns, duration_ns, error, input_value, output_value, metadata,
     metrics, span_tags, rare) = record
    unpacked: RareFields = rare  # typed: the compiled build reads it without an iterator
    tool_definitions, sample_rate, extras, pagent = unpacked
    if (type(trace_id) is not int or type(span_id) is not int or type(apm_trace_id) is not int
            or (parent_id is not None and type(parent_id) is not int)):
        raise TypeError("an id that is not an int")
    if sample_rate != 1.0:
        format_rate(sample_rate)  # build() fails on a rate it cannot write: so must this
    meta = shared_meta(kind, model_name, model_provider, error, input_value, output_value,
                       metadata, tool_definitions, extras, pagent)
    head = builder._tag_heads.get((ml_app, session_id)) or builder.tag_head(ml_app, session_id)
    tags = head if error is None and not span_tags else builder.tags(head, error, span_tags)
    return _new(SpanData, (None, trace_id, span_id, parent_id, name,
                           "client" if kind in _CLIENT_KINDS else "internal",
                           start_ns, start_ns + duration_ns, key_of(kind, name, tags, meta),
                           attributes_of(meta, session_id, metrics), _error(meta)))


def span_datas(events: Sequence[Event]) -> list[SpanData]:
    """span_data() of each event; for the writer's events, made from their records."""
    return list(each_span_data(events))


def each_span_data(events: Sequence[Event]) -> Iterator[SpanData]:
    """span_datas(), one at a time: the sink encodes each before the next is made."""
    builder = builder_of(events)
    if builder is None:
        for event in events:
            yield span_data(event)
        return
    for record in events.records:  # type: ignore[attr-defined]
        try:
            data = record_span_data(builder, record)
        except Exception:  # built as any event is: the same SpanData, or the same failure
            data = span_data(builder.build(record))
        yield data


def _error(meta: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    error = meta.get("error")
    if not error:
        return None
    return (f"{error.get('type')}: {error.get('message')}", {
        "exception.type": error.get("type") or "",
        "exception.message": error.get("message") or "",
        "exception.stacktrace": error.get("stack") or ""})


_new: Final = tuple.__new__


def evaluation_data(metric: Event) -> SpanData:
    """An evaluation, as an EVALUATOR span under the span it judges."""
    joined = metric["join_on"]["span"]
    at = int(metric["timestamp_ms"]) * 1_000_000
    return SpanData(metric.get("ml_app") or "unnamed-ml-app", int(joined["trace_id"], 16),
                    new_span_id(), int(joined["span_id"]), f"evaluation:{metric['label']}",
                    "internal", at, at, None, evaluation_attributes(metric), None)


def feedback_data(metric: Event) -> SpanData:
    """Feedback, as an EVALUATOR span: in the trace it targets, else in a trace of its own;
    its target (span_id, session_id, feedback_join_key) and submitter as attributes."""
    at = int(metric["timestamp_ms"]) * 1_000_000
    trace_id = int(metric["trace_id"], 16) if "trace_id" in metric else new_trace_id(at)
    attributes = evaluation_attributes(metric)
    attributes["llmobs.evaluation.event_kind"] = "feedback"
    for key in ("span_id", "session_id", "feedback_join_key"):
        if key in metric:
            attributes[f"llmobs.feedback.{key}"] = metric[key]
    for key, value in metric["submitter"].items():
        attributes[f"llmobs.feedback.submitter.{key}"] = value
    return SpanData(metric.get("ml_app") or "unnamed-ml-app", trace_id, new_span_id(), None,
                    f"feedback:{metric['label']}", "internal", at, at, None, attributes, None)


class OTLPSink:
    """`endpoint` is the URL spans are POSTed to (…/v1/traces); None reads
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. `headers`
    are added to OTEL_EXPORTER_OTLP_HEADERS; `timeout` None means OTEL_EXPORTER_OTLP_TIMEOUT or
    10 s. `exporter` hands spans to any OpenTelemetry SpanExporter instead. After shutdown()
    the sink is done: give each enable() a new one."""

    def __init__(self, endpoint: str | None = None, headers: Mapping[str, str] | None = None,
                 *, service: str | None = None, env: str | None = None,
                 version: str | None = None, timeout: float | None = None,
                 exporter: Any = None) -> None:
        # Everything is prepared here, not at first use: the first batch may be sent while
        # the interpreter exits, when new threads or thread pools can no longer start.
        self._settings = OTLPSettings.resolve(endpoint, headers, timeout)
        token = next((value for key, value in self._settings.headers.items()
                      if key.lower() == "authorization" and value), None)
        self._origin = Origin(self._settings.endpoint, self._settings.timeout,
                              Secret(token) if token else None, self._settings.tls)
        self._retry = RetryPolicy()
        self._stop = threading.Event()
        self._service = service
        self._static = {**resource_attributes(), "telemetry.sdk.language": "python",
                        "telemetry.sdk.name": "llmobs",
                        "telemetry.sdk.version": tracer_version()}
        self._static.update({key: value for key, value in (
            ("service.version", version), ("deployment.environment.name", env)) if value})
        self._resources: dict[str, bytes] = {}
        # fixed_key() -> (its attributes, the resource), encoded
        self._fixed: dict[FixedKey | None, tuple[bytes, bytes]] = {}
        self._scope = wire.scope("llmobs", tracer_version())
        self._sdk = None
        if exporter is not None:
            from ._otlp_sdk import SDKExport

            self._sdk = SDKExport(exporter, self._resource_attributes)

    @classmethod
    def from_config(cls, config: Any) -> OTLPSink:
        return cls(config.otlp_endpoint, config.otlp_headers, service=config.service,
                   env=config.env, version=config.version)

    def __repr__(self) -> str:
        return f"<OTLPSink endpoint={self._settings.endpoint}>"

    # -- the Sink contract (called from the writer thread) --------------------------------------

    def send_spans(self, events: Sequence[Event]) -> None:
        self._export(each_span_data(events), len(events), "span events")

    def send_evaluations(self, metrics: list[Event]) -> None:
        """Evaluations of a span go as EVALUATOR spans under it (OTLP has no evaluation
        signal); those joined on a tag have no span to hang from and are left out."""
        spans = [evaluation_data(m) for m in metrics if "span" in m.get("join_on", {})]
        feedback = [feedback_data(m) for m in metrics if m.get("event_kind") == "feedback"]
        left_out = len(metrics) - len(spans) - len(feedback)
        spans += feedback
        if left_out:
            warn_limited("otlp.tag_evaluations", "llmobs: %d evaluations joined on a tag were "
                         "not sent over OTLP: only evaluations of a span are", left_out)
        self._export(spans, len(spans), "evaluations")

    def shutdown(self) -> None:
        self._stop.set()
        self._origin.close()
        if self._sdk is not None:
            self._sdk.shutdown()

    # -- sending -------------------------------------------------------------------------------

    def _export(self, spans: Iterable[SpanData], count: int, what: str) -> None:
        """Send `count` spans: encoded one at a time as `spans` yields them, so that a batch's
        attribute dicts never add up for the garbage collector to visit (each_span_data())."""
        if not count:
            return
        if self._sdk is not None:
            self._sdk.export(list(spans), what)
            return
        body = self.encode(spans)
        if self._settings.gzip:
            body = gzip.compress(body, compresslevel=6)
        response, _ = post_with_retries(self._origin, "", body, self._settings.headers,
                                        self._retry, self._stop)
        if not response.ok:
            raise DeliveryError(self._origin.masked(
                f"{count} {what} refused by the OTLP endpoint {self._settings.endpoint}: "
                f"HTTP {response.status} {response.reason}"))

    def encode(self, spans: Iterable[SpanData]) -> bytes:
        """The OTLP/HTTP protobuf request body for `spans`."""
        by_resource: dict[bytes, list[bytes]] = {}
        known = self._fixed
        for data in spans:
            try:
                fixed, resource = known[data.fixed]
            except (KeyError, TypeError):
                fixed, resource = self._fixed_and_resource(data)
            encoded = wire.span(data.trace_id, data.span_id, data.parent_id, data.name,
                                data.kind, data.start_ns, data.end_ns, fixed, data.attributes,
                                data.error)
            by_resource.setdefault(resource, []).append(encoded)
        return wire.request(by_resource, self._scope)

    def _fixed_and_resource(self, data: SpanData) -> tuple[bytes, bytes]:
        """A span's fixed attributes and its resource, encoded once for all the spans that
        share its fixed_key()."""
        resource = self._resource(data.application())
        if data.fixed is None:  # an evaluation's span: all its attributes are in .attributes
            return b"", resource
        known = (wire.attributes(wire.ATTRIBUTE, fixed_attributes(data.fixed)), resource)
        try:
            if len(self._fixed) >= _MAX_FIXED:
                self._fixed.clear()
            self._fixed[data.fixed] = known
        except TypeError:  # a span processor's unhashable tag or model
            pass
        return known

    def _resource_attributes(self, ml_app: str) -> dict[str, Any]:
        """One resource per ml_app, so that Phoenix shows each ml_app as a project."""
        return {**self._static, "service.name": self._service or ml_app,
                "openinference.project.name": ml_app}

    def _resource(self, ml_app: str) -> bytes:
        resource = self._resources.get(ml_app)
        if resource is None:
            if len(self._resources) >= _MAX_RESOURCES:
                self._resources.clear()
            resource = self._resources[ml_app] = wire.resource(
                self._resource_attributes(ml_app))
        return resource
