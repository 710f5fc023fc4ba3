"""LLMObsMiddleware: a pure ASGI middleware that gives every http and websocket request a span
continuing the caller's trace."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from llmobs_core._adapter import (
    ACTIVE,
    KINDS,
    NOOP_SPAN,
    THIS_SPAN,
    Tracer,
    activate,
    deactivate,
    ml_app_problem,
    record_fault,
    remote_context,
    tracer_state,
    warn_limited,
)

from ._request import RequestTrace
from ._scope import trace_headers

Scope = dict[str, Any]
ScopeCallable = Callable[[Scope], "str | None"]

_TRACED: Final = frozenset(("http", "websocket"))
_UNTRACED_NOTE = "llmobs: a malformed ASGI %s scope (%s) was passed to the app untraced"


class LLMObsMiddleware:
    """Wrap an ASGI app (``app.add_middleware(LLMObsMiddleware, ...)`` in Starlette and
    FastAPI) so that each http and websocket request runs in a span.

    - ml_app: a name, or a callable given the request scope that returns one or None (per
      request routing); a name given here beats the caller's propagated ml_app, None lets it
      through, and then the configured one applies.
    - session_id: a callable given the scope that returns a session id or None (then the
      caller's propagated session applies).
    - kind: the span kind (workflow by default).
    - exclude: paths served with no span; an entry ending in "*" is a prefix ("/static/*").
    - response_headers: add a traceresponse header (W3C) naming the request span to each
      response, for clients that send feedback on it (llmobs_starlette.span_context() reads
      it back). Off by default: it is a quarter of the middleware's cost under uvicorn, and it
      shows trace ids to every client.
    """

    def __init__(
        self,
        app: Any,
        *,
        ml_app: str | ScopeCallable | None = None,
        session_id: ScopeCallable | None = None,
        kind: str = "workflow",
        exclude: Iterable[str] = (),
        response_headers: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if isinstance(ml_app, str) and ml_app_problem(ml_app) is not None:
            raise ValueError(f"ml_app {ml_app!r} is invalid: {ml_app_problem(ml_app)}")
        if not (ml_app is None or isinstance(ml_app, str) or callable(ml_app)):
            raise TypeError("ml_app must be a name, a callable given the scope, or None")
        if not (session_id is None or callable(session_id)):
            raise TypeError("session_id must be a callable given the scope, or None")
        if isinstance(exclude, str):
            raise TypeError("exclude must be a collection of paths, not one string")
        self.app = app
        self.kind = kind
        self.fixed_ml_app = ml_app if isinstance(ml_app, str) else None
        self.route_ml_app = ml_app if callable(ml_app) else None
        self.route_session = session_id
        self.response_headers = bool(response_headers)
        paths = list(exclude)
        self.excluded_paths = frozenset(p for p in paths if not p.endswith("*"))
        self.excluded_prefixes = tuple(p[:-1] for p in paths if p.endswith("*"))
        self.excludes = bool(paths)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            traced = isinstance(scope, dict) and scope["type"] in _TRACED
        except Exception:  # no "type", or one that cannot even be hashed: not ours to judge
            traced = False
        if not traced:
            return await self.app(scope, receive, send)
        tracer = tracer_state.tracer
        request = None
        if tracer is not None and not (self.excludes and self.is_excluded(scope.get("path"))):
            request = self.start(tracer, scope, receive, send)
        if request is None:
            _put_in_state(scope, NOOP_SPAN)  # so endpoint code runs the same untraced
            return await self.app(scope, receive, send)
        span_token = activate(request.span)
        try:
            await self.app(scope, request.receive,
                           request.send if request.send_may_raise else request.send_now)
        except BaseException as exc:
            request.end(exc)
            raise
        finally:
            if request.span.duration_ns is None:  # the response did not end it
                request.end(returned=True)
            deactivate(span_token)

    def is_excluded(self, path: Any) -> bool:
        if type(path) is not str:
            return False  # start() leaves such a request untraced
        return path in self.excluded_paths or path.startswith(self.excluded_prefixes)

    def start(self, tracer: Tracer, scope: Scope, receive: Any, send: Any) -> RequestTrace | None:
        """Open the request's span under the caller's remote context; None, with a warning,
        for a scope whose path, method or headers break the ASGI spec. Never raises."""
        try:  # capture_faults("asgi.start")'s work, without its two Python calls a request
            http = scope["type"] == "http"
            path = scope.get("path")
            method = scope.get("method", "GET") if http else "WEBSOCKET"
            if type(path) is not str or type(method) is not str:
                _untraced(scope, "its path or method is not a string")
                return None
            try:
                headers = trace_headers(scope)
            except Exception:
                _untraced(scope, "its headers are not [name, value] pairs")
                return None
            ml_app = self.fixed_ml_app
            if self.route_ml_app is not None:
                ml_app = self.routed(self.route_ml_app, scope)
            session = None
            if self.route_session is not None:
                session = self.routed(self.route_session, scope)
            parent = (None if headers is None else remote_context(headers.get)) or ACTIVE
            span = tracer.start_span(self.kind, f"{method} {path}", session, ml_app,
                                     parent=parent)
            span.unit_span = THIS_SPAN  # current_span() gives it to every span under it
            _put_in_state(scope, span)
            return RequestTrace(span, scope, method, self.response_headers, receive, send)
        except Exception as exc:
            record_fault("asgi.start", exc)
        return None

    @staticmethod
    def routed(choose: ScopeCallable, scope: Scope) -> str | None:
        try:
            value = choose(scope)
        except Exception as exc:
            warn_limited("starlette.routing", "llmobs: %r raised %s: %s; it is ignored for "
                         "this request", choose, type(exc).__name__, exc)
            return None
        if value is None or (isinstance(value, str) and value):
            return value
        warn_limited("starlette.routing.type", "llmobs: %r returned %r, not a string or None; "
                     "it is ignored", choose, value)
        return None


def _untraced(scope: Scope, problem: str) -> None:
    warn_limited("starlette.scope", _UNTRACED_NOTE, scope["type"], problem)


def _put_in_state(scope: Scope, span: Any) -> None:
    """Starlette's request.state reads scope["state"]."""
    scope_state = scope.get("state")
    if scope_state is None:
        scope["state"] = {"llmobs_span": span}
    elif isinstance(scope_state, dict):
        scope_state["llmobs_span"] = span
