"""LLMObs: the public entry point, in the shape of Datadog's LLM Observability SDK."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from . import flushing, lifecycle, propagation
from ._log import warn_limited
from ._values import safe_repr
from .annotation_context import AnnotationContext
from .annotations import apply_annotations
from .context import current_parent, reading_stream
from .evaluations import evaluation_from_call
from .evaluations import submit_evaluation as evaluation_signature
from .feedback import build_feedback
from .feedback import submit_feedback as feedback_signature
from .prompts import apply_prompt, apply_tool_definitions
from .span import KINDS, NOOP_SPAN, LLMObsSpan, NoopSpan
from .tracer import EnabledFlag, app_option, start, state

F = TypeVar("F", bound=Callable[..., Any])
AnySpan = LLMObsSpan | NoopSpan


class LLMObs:
    """Enable llmobs, open spans of each kind, annotate them, submit evaluations."""

    @staticmethod
    def enable(
        ml_app: str | None = None,
        service: str | None = None,
        env: str | None = None,
        version: str | None = None,
        agentless_enabled: bool | None = None,
        site: str | None = None,
        api_key: str | None = None,
        exporter: Any = None,
        span_processor: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        tags: dict[str, str] | None = None,
        shutdown_timeout: float | None = None,
        instrumented_proxy_urls: list[str] | None = None,
        override_origin: str | None = None,
        agent_url: str | None = None,
        otlp_endpoint: str | None = None,
        otlp_headers: dict[str, str] | None = None,
        integrations_enabled: bool = True,
        agent_service: str | None = None,
        sample_rate: float | None = None,
    ) -> None:
        """Start recording. Explicit arguments beat the environment (DD_LLMOBS_ML_APP,
        DD_SERVICE, ...); `agent_service` is ddtrace 4.x's name for ml_app. Enabling again
        keeps the first configuration (as ddtrace does; logged at INFO): disable() first
        to change it. A wrong setting raises.
        Where spans go: docs/exporters.md. With `integrations_enabled`, the installed LLM
        clients (openai, anthropic) are traced, less those the environment turns off
        (docs/launcher.md)."""
        lifecycle.start({
            "ml_app": app_option(ml_app, agent_service), "service": service, "env": env,
            "version": version,
            "agentless_enabled": agentless_enabled, "site": site, "api_key": api_key,
            "exporter": exporter, "span_processor": span_processor, "tags": tags,
            "shutdown_timeout": shutdown_timeout,
            "instrumented_proxy_urls": instrumented_proxy_urls,
            "override_origin": override_origin, "agent_url": agent_url,
            "otlp_endpoint": otlp_endpoint, "otlp_headers": otlp_headers,
            "sample_rate": sample_rate,
        }, integrations_enabled)

    @staticmethod
    def disable() -> None:
        """Stop recording: drain what was recorded (within the shutdown timeout), close sinks,
        put the LLM clients' original methods back."""
        lifecycle.stop()

    enabled = EnabledFlag()
    """True while llmobs records: `if LLMObs.enabled:` as in ddtrace; `LLMObs.enabled()`
    still works (it was a method before)."""

    # -- spans ---------------------------------------------------------------------------------

    @staticmethod
    def llm(model_name: str | None = None, name: str | None = None,
            model_provider: str | None = None, session_id: str | None = None,
            ml_app: str | None = None, agent_service: str | None = None) -> AnySpan:
        return start("llm", name, session_id, ml_app, agent_service, model_name, model_provider)

    @staticmethod
    def embedding(model_name: str | None = None, name: str | None = None,
                  model_provider: str | None = None, session_id: str | None = None,
                  ml_app: str | None = None, agent_service: str | None = None) -> AnySpan:
        return start("embedding", name, session_id, ml_app, agent_service, model_name,
                     model_provider)

    @staticmethod
    def workflow(name: str | None = None, session_id: str | None = None,
                 ml_app: str | None = None, agent_service: str | None = None) -> AnySpan:
        return start("workflow", name, session_id, ml_app, agent_service)

    @staticmethod
    def agent(name: str | None = None, session_id: str | None = None,
              ml_app: str | None = None, agent_service: str | None = None,
              version: str | None = None) -> AnySpan:
        """An agent span; `version` is sent as its agent_version tag."""
        span = start("agent", name, session_id, ml_app, agent_service)
        if version is not None and type(span) is LLMObsSpan:
            span.tags = {**(span.tags or {}), "agent_version": safe_repr(version)
                         if type(version) is not str else version}
        return span

    @staticmethod
    def tool(name: str | None = None, session_id: str | None = None,
             ml_app: str | None = None, agent_service: str | None = None) -> AnySpan:
        return start("tool", name, session_id, ml_app, agent_service)

    @staticmethod
    def task(name: str | None = None, session_id: str | None = None,
             ml_app: str | None = None, agent_service: str | None = None) -> AnySpan:
        return start("task", name, session_id, ml_app, agent_service)

    @staticmethod
    def retrieval(name: str | None = None, session_id: str | None = None,
                  ml_app: str | None = None, agent_service: str | None = None) -> AnySpan:
        return start("retrieval", name, session_id, ml_app, agent_service)

    @staticmethod
    def trace(kind: str, name: str | None = None, **options: Any) -> AnySpan:
        """The Node.js SDK's generic form: a span of any kind, used as a context manager. An
        unknown kind is logged and the block runs untraced."""
        if type(kind) is not str or kind not in KINDS:
            warn_limited("trace.kind", "llmobs: unknown span kind %s (valid kinds: %s); the "
                         "block runs untraced", safe_repr(kind), ", ".join(KINDS))
            return NOOP_SPAN
        return start(kind, name, options.get("session_id"), options.get("ml_app"),
                     options.get("agent_service"), options.get("model_name"),
                     options.get("model_provider"))

    @staticmethod
    def wrap(kind: str, name: str | None = None, **options: Any) -> Callable[[F], F]:
        """The Node.js SDK's generic decorator: ``LLMObs.wrap(kind="tool")(fn)``."""
        from .decorators import span_decorator

        return span_decorator(kind, name=name, **options)

    @staticmethod
    def current_span() -> LLMObsSpan | None:
        """The active span; while the code reads an auto-instrumented LLM stream (and opened
        no span since it started), the stream's llm span."""
        parent = current_parent.get()
        reading = reading_stream.get()
        if reading is not None and reading[1] is parent and reading[0].duration_ns is None:
            span: LLMObsSpan = reading[0]
            return span
        return parent if type(parent) is LLMObsSpan else None

    # -- distributed tracing ------------------------------------------------------------------

    @staticmethod
    def inject_distributed_headers(request_headers: Any = None, span: LLMObsSpan | None = None,
                                   *, headers: Any = None) -> Any:
        """Write the active (or given) span's context into a dict of HTTP headers: Datadog,
        W3C traceparent/tracestate and baggage. Returns the same dict. `headers=` is the
        former name of `request_headers=`."""
        carrier = headers if request_headers is None else request_headers
        return propagation.inject_headers(carrier, span)

    @staticmethod
    def activate_distributed_headers(request_headers: Any = None, *,
                                     headers: Any = None) -> propagation.Activation:
        """Make the context in incoming headers the parent of the next spans opened in this
        context. Also a context manager that restores the previous context on exit.
        `headers=` is the former name of `request_headers=`."""
        return propagation.activate_headers(headers if request_headers is None
                                            else request_headers)

    # -- annotations and evaluations -----------------------------------------------------------

    @staticmethod
    def annotate(span: LLMObsSpan | None = None, input_data: Any = None, output_data: Any = None,
                 metadata: Any = None, metrics: Any = None, tags: Any = None,
                 prompt: Any = None, tool_definitions: Any = None) -> None:
        """Add data to a span (the active one when `span` is None). Never raises: data that
        cannot be used is dropped, field by field, with a warning. `prompt` and
        `tool_definitions` are kept on llm spans (docs/migrating-from-ddtrace.md)."""
        if state.tracer is None:
            return
        if span is None:
            span = LLMObs.current_span()
            if span is None:
                warn_limited("annotate.nospan", "llmobs: annotate() found no active span")
                return
        elif type(span) is not LLMObsSpan:
            if type(span) is not NoopSpan:
                warn_limited("annotate.type", "llmobs: annotate() needs an LLMObsSpan, not %s",
                             type(span).__name__)
            return
        if span.duration_ns is not None:
            warn_limited("annotate.finished", "llmobs: annotate() on finished span %r ignored",
                         span.name)
            return
        apply_annotations(span, input_data, output_data, metadata, metrics, tags)
        if prompt is not None:
            apply_prompt(span, prompt)
        if tool_definitions is not None:
            apply_tool_definitions(span, tool_definitions)

    @staticmethod
    def annotation_context(tags: dict[str, Any] | None = None, prompt: dict[str, Any] | None = None,
                           name: str | None = None) -> AnnotationContext:
        """A context manager (sync or async): every span opened inside it gets these tags
        (merged), this prompt (llm spans) and this name. Nested contexts apply outermost
        first; spans open before it was entered are left alone."""
        return AnnotationContext(tags, prompt, name)

    @staticmethod
    def register_processor(processor: Callable[[Any], Any] | None = None) -> None:
        """Set (or, with None, remove) the span processor of the running configuration: it
        gets each span on the writer thread, with ddtrace's `.input`, `.output`, `.metadata`
        and `get_tag()` and as the event dict; return None to drop the span."""
        lifecycle.register_processor(processor)

    @staticmethod
    def export_span(span: LLMObsSpan | None = None) -> dict[str, str] | None:
        """The span's ids, to join an evaluation to it later: {"span_id", "trace_id"}."""
        span = span if span is not None else LLMObs.current_span()
        if type(span) is not LLMObsSpan:
            warn_limited("export_span", "llmobs: export_span() found no span to export")
            return None
        return {"span_id": str(span.span_id), "trace_id": f"{span.trace_id:032x}"}

    @staticmethod
    def submit_evaluation(*args: Any, **kwargs: Any) -> None:
        """Attach an evaluation (a score, a category, a boolean or JSON) to a span, given by
        `span` (ddtrace's name; `span_context` is the Node.js SDK's) as LLMObs.export_span()
        returns it, or by `span_with_tag_value`. ddtrace's arguments, in its order (see
        evaluations.submit_evaluation); the former `submit_evaluation(span_context, label=...)`
        call still works. Wrong arguments raise ValueError or TypeError saying what to fix."""
        tracer = state.tracer
        if tracer is not None:
            tracer.enqueue(evaluation_from_call(args, kwargs, tracer.default_ml_app))

    @staticmethod
    def submit_feedback(*args: Any, **kwargs: Any) -> None:
        """End-user feedback on one target: a span (`span`, as export_span() returns it, or
        `span_id`), a `trace_id`, a `session_id` or a `feedback_join_key`; ddtrace's
        arguments (see feedback.submit_feedback). Wrong arguments raise ValueError or
        TypeError."""
        tracer = state.tracer
        if tracer is not None:
            arguments = feedback_signature(*args, **kwargs)
            tracer.enqueue(build_feedback(tracer.default_ml_app, arguments))

    @staticmethod
    def get_spans(trace_id: str | None = None, span_id: str | None = None,
                  query: str | None = None, span_kind: str | None = None,
                  span_name: str | None = None, ml_app: str | None = None,
                  tags: dict[str, str] | None = None, from_date: Any = "now-7d",
                  to_date: Any = "now", sort: str = "timestamp",
                  include_attachments: bool = True, limit: int = 10,
                  agent_service: str | None = None) -> list[dict[str, Any]]:
        """Recorded spans matching every filter, from the local store (the enabled local
        sink's file, else the default one). `query` takes Datadog's search syntax as far as
        span_search.py lists it (ValueError beyond); `include_attachments` has no local
        meaning."""
        from .span_query import get_spans

        tracer = state.tracer
        store = None if tracer is None else tracer.local_store_path()
        default_app = None if tracer is None else tracer.default_ml_app
        return get_spans(store, default_app, trace_id, span_id, query, span_kind, span_name,
                         app_option(ml_app, agent_service), tags, from_date, to_date, sort, limit)

    # -- delivery ------------------------------------------------------------------------------

    @staticmethod
    def flush(timeout: float | None = 5.0) -> bool:
        """Block until everything recorded so far is delivered; False if `timeout` ran out.
        A timeout that is not a number of seconds raises TypeError."""
        return flushing.flush(timeout)

    @staticmethod
    async def aflush(timeout: float | None = 5.0) -> bool:
        """flush() for async code: waits without blocking the event loop."""
        return await flushing.aflush(timeout)

    @staticmethod
    def stats() -> dict[str, Any]:
        """Counts: enqueued, sent (taken by at least one sink), pending, dropped by reason
        (enqueued = sent + dropped + pending), each sink's own sent and dropped, and llmobs's
        own faults by place (each one logged at ERROR; the host's code was not affected)."""
        return flushing.stats()


# LLMObs.submit_evaluation reads its arguments itself (two orders); show ddtrace's signature.
LLMObs.__dict__["submit_evaluation"].__func__.__signature__ = inspect.signature(
    evaluation_signature).replace(return_annotation=None)
LLMObs.__dict__["submit_feedback"].__func__.__signature__ = inspect.signature(
    feedback_signature).replace(return_annotation=None)
