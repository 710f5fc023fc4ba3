"""The one seam between the core and its adapters (ASGI, Django, Celery) and integrations
(httpx, LLM clients): everything they need of the core's internals, and nothing else.

- `start_span(kind, name, parent=...)` opens a span under an explicit parent (a remote context
  read from headers, a span, None for a new trace; by default the active one), or gives the
  no-op span while llmobs is disabled.
- `remote_context(getter)` reads the caller's trace context through a header getter.
- `activate(span)` / `deactivate(token)` (or `restore(token)` from any context) make a span
  the active parent for a while.
- `span.unit_span = THIS_SPAN` marks the span an adapter opened for a request or task; every
  span opened under it then has it as its `unit_span`.
- `capture_faults(place)` guards library-side work: faults are logged and counted, never raised.
- `reading_stream` / `stop_reading(token)`: the LLM stream the code is reading, which
  annotate() targets meanwhile (context.py).
- `instrumented_proxy_urls()` and `integrations_from_env()`: the settings the LLM client
  integrations read; `inject_styles()` / `extract_styles()`: the header formats to write and
  read (DD_TRACE_PROPAGATION_STYLE_*), for adapters that call `inject` / `remote_context`
  with a cache of their own.
"""

from __future__ import annotations

from typing import Any, Final

from ._faults import capture_faults, faults, record_fault, safe_str
from ._log import log, warn_limited
from .annotations import shape_io_leniently
from .config import PROPAGATION_STYLES, ml_app_problem
from .context import current_parent, reading_stream, restore, stop_reading
from .integration_settings import INTEGRATIONS, integrations_from_env
from .propagation import HEADERS, RemoteContext, inject, inject_into
from .propagation import context_from as remote_context
from .propagation.w3c import parse_traceparent
from .span import KINDS, NOOP_SPAN, THIS_SPAN, LLMObsSpan, NoopSpan
from .tracer import ACTIVE, Tracer, state

__all__ = [
    "ACTIVE", "HEADERS", "INTEGRATIONS", "KINDS", "NOOP_SPAN", "LLMObsSpan", "NoopSpan",
    "RemoteContext", "THIS_SPAN", "Tracer", "activate", "active_parent", "active_tracer",
    "capture_faults", "deactivate", "extract_styles", "faults", "inject", "inject_into",
    "inject_styles", "instrumented_proxy_urls", "integrations_from_env", "log",
    "ml_app_problem", "parse_traceparent", "reading_stream", "record_fault", "remote_context",
    "restore", "safe_str", "shape_io_leniently", "start_span", "stop_reading", "tracer_state",
    "warn_limited",
]

# tracer_state.tracer: the tracer while llmobs is enabled, else None; what active_tracer()
# returns, read without its Python call where a request pays for each one.
tracer_state: Final = state


def active_tracer() -> Tracer | None:
    """The tracer while llmobs is enabled, else None."""
    return state.tracer


def instrumented_proxy_urls() -> tuple[str, ...]:
    """The configured LLM proxy base URLs (empty while llmobs is disabled)."""
    tracer = state.tracer
    return () if tracer is None else tracer.config.instrumented_proxy_urls


def inject_styles() -> tuple[str, ...]:
    tracer = state.tracer
    return PROPAGATION_STYLES if tracer is None else tracer.config.propagation_inject


def extract_styles() -> tuple[str, ...]:
    tracer = state.tracer
    return PROPAGATION_STYLES if tracer is None else tracer.config.propagation_extract


def start_span(kind: str, name: str, parent: Any = ACTIVE, session_id: str | None = None,
               ml_app: str | None = None, model_name: str | None = None,
               model_provider: str | None = None) -> LLMObsSpan | NoopSpan:
    tracer = state.tracer
    if tracer is None:
        return NOOP_SPAN
    return tracer.start_span(kind, name, session_id, ml_app, model_name, model_provider, parent)


def active_parent() -> Any:
    """The active span, or an activated remote context, or None."""
    return current_parent.get()


# activate(parent) makes a span, a remote context or None the active parent and returns a
# token; deactivate(token) undoes it in the same context. The context variable's own methods,
# not wrappers: a Python call costs a request about 1,300 instructions (bench/asgi_instructions).
# Final, as tracer_state: compiled adapters (setup.py) read them from C statics.
activate: Final = current_parent.set
deactivate: Final = current_parent.reset
