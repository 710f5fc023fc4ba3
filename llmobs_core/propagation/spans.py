"""Continuing traces across process boundaries: writing the current span's context into
outgoing headers, and making an incoming context the parent of the spans opened here. Adapters
map their own header shapes (ASGI byte pairs, Django META, Celery message headers) to a getter
or setter and call these."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from .._faults import capture_faults, safe_str
from .._log import warn_limited
from ..context import current_parent, restore
from ..span import LLMObsSpan
from ..tracer import state
from .headers import RemoteContext, extract, extract_dict, inject

PROXY_TAG = ("ml-proxy", "custom")


def inject_into(setter: Callable[[str, str], None], span: Any = None,
                url: str | None = None) -> bool:
    """Write the context of `span` (else the active span, else an activated remote context)
    through `setter`. Tags the task span that wraps a call to a proxy. Never raises."""
    tracer = state.tracer
    if tracer is None:
        return False
    source = span if span is not None else current_parent.get()
    if source is None:
        return False
    with capture_faults("propagation.inject"):  # a setter of the caller's, or a bug of ours
        styles = tracer.config.propagation_inject
        if not styles:  # DD_TRACE_PROPAGATION_STYLE_INJECT=none
            return False
        if type(source) is LLMObsSpan:
            inject(setter, trace_id=source.trace_id, span_id=source.span_id,
                   apm_trace_id=source.apm_trace_id, ml_app=source.ml_app,
                   session_id=source.trace_session[0] or source.session_id,
                   sample_rate=source.sample_rate, sampled=source.sampled, styles=styles,
                   pagent=((source.name, source.span_id) if source.kind == "agent"
                           else source.pagent))
            if source.kind == "task" and _is_proxy(tracer.config.instrumented_proxy_urls, url):
                tags = source.tags
                if tags is None:
                    source.tags = {PROXY_TAG[0]: PROXY_TAG[1]}
                else:
                    tags[PROXY_TAG[0]] = PROXY_TAG[1]
        elif type(source) is RemoteContext and source.parent_id is not None:
            inject(setter, trace_id=source.trace_id, span_id=source.parent_id,
                   apm_trace_id=source.apm_trace_id, ml_app=source.ml_app,
                   session_id=source.session_id,
                   sampling_priority=source.sampling_priority or 1,
                   sample_rate=source.sample_rate, sampled=source.sampled, styles=styles,
                   pagent=source.pagent)
        else:
            return False
        return True
    return False


def _is_proxy(proxy_urls: tuple[str, ...], url: str | None) -> bool:
    if not proxy_urls:
        return True
    if url is None:
        return False
    return any(url.startswith(prefix) for prefix in proxy_urls) or urlsplit(url).hostname in {
        urlsplit(prefix).hostname or prefix for prefix in proxy_urls}


class Activation:
    """What activate_distributed_headers() returns. The remote context stays active for the
    rest of the current context; used as a context manager, the previous one is restored."""

    __slots__ = ("context", "_token")

    def __init__(self, context: RemoteContext | None) -> None:
        self.context = context
        self._token = None if context is None else current_parent.set(context)

    def __enter__(self) -> RemoteContext | None:
        return self.context

    def __exit__(self, *exc: Any) -> None:
        self.restore()

    def restore(self) -> None:
        token, self._token = self._token, None
        restore(token)


def activate(context: RemoteContext | None) -> Activation:
    return Activation(context if state.tracer is not None else None)


def inject_headers(headers: MutableMapping[str, Any], span: Any = None) -> MutableMapping:
    if not issubclass(type(headers), MutableMapping):
        warn_limited("inject.type", "llmobs: inject_distributed_headers() needs a dict of "
                     "headers, not %s", type(headers).__name__)
        return headers
    written: dict[str, str] = {}
    if inject_into(written.__setitem__, span):
        try:
            headers.update(written)
        except Exception as exc:  # the caller's mapping refused them
            warn_limited("inject.write", "llmobs: inject_distributed_headers() could not write "
                         "the headers: %s: %s", type(exc).__name__, safe_str(exc)[:200])
    return headers


def activate_headers(headers: Mapping[str, Any] | None) -> Activation:
    tracer = state.tracer
    if tracer is None or not issubclass(type(headers), Mapping):
        return Activation(None)
    return Activation(extract_dict(headers, tracer.config.propagation_extract))  # type: ignore[arg-type]


def context_from(getter: Callable[[str], object]) -> RemoteContext | None:
    """For adapters: the remote context in a carrier, in the configured extract styles, or
    None. Never raises."""
    tracer = state.tracer
    if tracer is None:
        return extract(getter)
    return extract(getter, tracer.config.propagation_extract)
