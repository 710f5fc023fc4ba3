"""LLMObsMiddleware: a span per request, continuing the caller's trace.

Sync and async capable in the manner of Django's MiddlewareMixin: Django builds it with the
handler below it, and when that handler is a coroutine function the instance marks itself as one
and serves requests through ``__acall__``, so ASGI deployments with async views never hop
threads. Each request's span is on ``request.llmobs`` (a no-op span when the request is not
traced); the context tokens live in the frame of the call that set them, never on the instance.

Ending the span. A plain response ends it when the response comes back through the middleware.
A streaming one (StreamingHttpResponse, sync or async, and FileResponse) is sent after the view
returned, so its span ends when the response is closed: ``response.close()`` is the one hook
every server calls after the last chunk (WSGI servers per PEP 3333, even through
``wsgi.file_wrapper``, since Django points the file's close at it; Django's ASGI handler; the
test clients), so the middleware wraps it on the instance. Wrapping only ``streaming_content``
would not do: a WSGI file wrapper bypasses it, and replacing a FileResponse's content turns off
its sendfile path. Content that is not a file is wrapped as well (as Django's docs allow), for
three things close() cannot do: the request span is active while the body's generator runs (so
spans opened there are its children), an exception raised mid-stream marks the span, and a
stream cancelled because its client went away ends it (Django's ASGI handler does not close a
response whose task was cancelled). Last, a streaming response never closed at all ends its span
when it is freed.

The request body is never read. Trace headers are read from request.META.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from llmobs_core._adapter import (
    HEADERS,
    NOOP_SPAN,
    LLMObsSpan,
    Tracer,
    activate,
    deactivate,
    record_fault,
    remote_context,
    tracer_state,
    warn_limited,
)

from . import conf
from ._streaming import finish_when_closed

__all__ = ["LLMObsMiddleware"]

_META_KEYS = {name: "HTTP_" + name.upper().replace("-", "_") for name in HEADERS}
_EXCEPTION_ATTR = "_llmobs_django_exception"


class LLMObsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.settings = conf.load()
        self.exclude = self.settings.exclude
        self.span_kind = self.settings.span_kind
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        tracer = tracer_state.tracer
        if tracer is None or (self.exclude and request.path_info.startswith(self.exclude)):
            request.llmobs = NOOP_SPAN
            return self.get_response(request)
        router, sessions = self.settings.ml_app_router, self.settings.session_id
        ml_app = None if router is None else _call_hook(router, request)
        session_id = None if sessions is None else _call_hook(sessions, request)
        span, token = _open(tracer, request, self.span_kind, ml_app, session_id)
        response = None
        try:
            response = self.get_response(request)
            return response
        except Exception as exc:
            _remember_exception(request, exc)
            raise
        finally:
            if token is not None:
                deactivate(token)
                _end(request, span, response)

    async def __acall__(self, request: HttpRequest) -> Any:
        tracer = tracer_state.tracer
        if tracer is None or (self.exclude and request.path_info.startswith(self.exclude)):
            request.llmobs = NOOP_SPAN
            return await self.get_response(request)
        router, sessions = self.settings.ml_app_router, self.settings.session_id
        ml_app = None if router is None else await _acall_hook(router, request)
        session_id = None if sessions is None else await _acall_hook(sessions, request)
        span, token = _open(tracer, request, self.span_kind, ml_app, session_id)
        response = None
        try:
            response = await self.get_response(request)
            return response
        except Exception as exc:
            _remember_exception(request, exc)
            raise
        finally:
            if token is not None:
                deactivate(token)
                _end(request, span, response)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Remember the view's exception; whether it marks the span depends on the response
        Django makes of it (Http404 becomes a 404, which is not an error). Returns None, so the
        exception goes on unchanged."""
        _remember_exception(request, exception)


def _meta_getter(meta: dict[str, Any]) -> Callable[[str], Any]:
    def get(name: str) -> Any:
        return meta.get(_META_KEYS.get(name) or "HTTP_" + name.upper().replace("-", "_"))

    return get


# _open and _end guard their work as capture_faults("django.open" / "django.end") would, with
# try/except and record_fault instead: its object and calls cost a request ~3,000 instructions
# each time (bench/django_middleware.py --instructions).


def _open(tracer: Tracer, request: HttpRequest, kind: str, ml_app: Any,
          session_id: Any) -> tuple[Any, Any]:
    """Start the request's span as a child of the caller's context (a root without one) and
    make it the active span; returns the span and the token that deactivates it (None, with
    the no-op span, when llmobs failed to start one)."""
    try:
        meta = request.META
        remote = None
        if "HTTP_X_DATADOG_TRACE_ID" in meta or "HTTP_TRACEPARENT" in meta:
            remote = remote_context(_meta_getter(meta))
        span = tracer.start_span(kind, f"{request.method} {request.path_info}", session_id,
                                 ml_app, parent=remote)
    except Exception as exc:
        record_fault("django.open", exc)
        request.llmobs = NOOP_SPAN
        return NOOP_SPAN, None
    request.llmobs = span
    return span, activate(span)


def _end(request: HttpRequest, span: LLMObsSpan, response: HttpResponseBase | None) -> None:
    try:
        span.name = _span_name(request)
        if response is None or response.status_code >= 500:
            _mark_error(request, span, response)
        if response is not None and response.streaming:
            finish_when_closed(response, span)
            return
    except Exception as exc:
        record_fault("django.end", exc)
    span.finish()


def _span_name(request: HttpRequest) -> str:
    match = request.resolver_match
    route = None if match is None else match.route
    if route is None:
        return f"{request.method} {request.path_info}"
    route = route.removeprefix("^")
    return f"{request.method} {route if route.startswith('/') else '/' + route}"


def _remember_exception(request: HttpRequest, exception: Exception) -> None:
    if getattr(request, _EXCEPTION_ATTR, None) is None:
        setattr(request, _EXCEPTION_ATTR, exception)


def _mark_error(request: HttpRequest, span: LLMObsSpan, response: Any) -> None:
    exception = getattr(request, _EXCEPTION_ATTR, None)
    if exception is not None:
        span.set_exception(exception)
    elif response is not None:
        span.error = ("HTTPError", f"{response.status_code} {response.reason_phrase}", "")


def _call_hook(hook: conf.Hook, request: HttpRequest) -> Any:
    try:
        if hook.is_async:
            return _checked(hook, async_to_sync(hook.function)(request))
        return _checked(hook, hook.function(request))
    except Exception as exc:
        return _hook_failed(hook, exc)


async def _acall_hook(hook: conf.Hook, request: HttpRequest) -> Any:
    try:
        value = hook.function(request)
        return _checked(hook, await value if hook.is_async else value)
    except Exception as exc:
        return _hook_failed(hook, exc)


def _checked(hook: conf.Hook, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if hook.setting == "LLMOBS['SESSION_ID']" and isinstance(value, int):
        return str(value)
    warn_limited(f"django.{hook.setting}", "llmobs: %s returned %r, not a str or None; ignored",
                 hook.setting, value)
    return None


def _hook_failed(hook: conf.Hook, exc: Exception) -> None:
    warn_limited(f"django.{hook.setting}", "llmobs: %s raised %s: %s; the span goes without it",
                 hook.setting, type(exc).__name__, exc)
    return None
