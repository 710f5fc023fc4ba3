"""@llm, @workflow, @agent, @tool, @task, @embedding, @retrieval: bare or called, on functions,
methods, coroutines, generators and async generators."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ._log import warn_limited
from ._values import safe_repr
from .annotations import shape_io_leniently
from .context import current_parent
from .span import KINDS, LLMObsSpan
from .tracer import state

F = TypeVar("F", bound=Callable[..., Any])
_SKIPPED_FIRST = ("self", "cls")
_SPAN_OPTIONS = ("session_id", "ml_app", "agent_service", "model_name", "model_provider",
                 "version")
_MESSAGE_KINDS = ("llm", "embedding")
DECORATOR_TAG = {"decorator": "1"}  # ddtrace's mark on spans opened by a decorator


class _Capture:
    """What a decorated function records: its arguments by parameter name, its return value."""

    __slots__ = ("positional", "varargs", "varkw", "skip_first", "inputs", "outputs")

    def __init__(self, fn: Callable[..., Any], inputs: bool, outputs: bool) -> None:
        parameters = list(inspect.signature(fn).parameters.values())
        self.skip_first = bool(parameters) and parameters[0].name in _SKIPPED_FIRST
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.positional = [p.name for p in parameters if p.kind in kinds]
        self.varargs = next((p.name for p in parameters
                             if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
        self.varkw = next((p.name for p in parameters
                           if p.kind is inspect.Parameter.VAR_KEYWORD), None)
        self.inputs, self.outputs = inputs, outputs

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        named = dict(zip(self.positional, args))
        if len(args) > len(self.positional) and self.varargs:
            named[self.varargs] = args[len(self.positional):]
        if self.skip_first and self.positional:
            named.pop(self.positional[0], None)
        if kwargs:
            if self.varkw is None:
                named.update(kwargs)
            else:  # as inspect's bind: keywords of no parameter under the **name
                extra = {k: v for k, v in kwargs.items() if k not in self.positional}
                named.update((k, v) for k, v in kwargs.items() if k in self.positional)
                if extra:
                    named[self.varkw] = extra
        return named


def span_decorator(kind: str, name: str | None = None, *, capture_input: bool = True,
                   capture_output: bool = True, **options: Any) -> Callable[[F], F]:
    if type(kind) is not str or kind not in KINDS:
        raise ValueError(f"unknown span kind {safe_repr(kind)}: use one of {', '.join(KINDS)}")
    unknown = set(options) - set(_SPAN_OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}: "
                        f"use {', '.join(_SPAN_OPTIONS)}")

    if options.get("agent_service") is not None:  # ddtrace 4.x's name for ml_app wins
        options["ml_app"] = options["agent_service"]
    if options.get("version") is not None and kind != "agent":
        warn_limited("decorator.version", "llmobs: version= is only used by @agent; ignored "
                     "on @%s", kind)

    def decorate(fn: F) -> F:
        capture = _Capture(fn, capture_input, capture_output)
        # Checked at each call by the tracer, as every span-opening argument is.
        span_name = getattr(fn, "__name__", kind) if name is None else name
        if inspect.isasyncgenfunction(fn):
            wrapper = _wrap_async_generator(fn, kind, span_name, options, capture)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _wrap_generator(fn, kind, span_name, options, capture)
        elif inspect.iscoroutinefunction(fn):
            wrapper = _wrap_coroutine(fn, kind, span_name, options, capture)
        else:
            wrapper = _wrap_function(fn, kind, span_name, options, capture)
        return functools.wraps(fn)(wrapper)  # type: ignore[return-value]

    return decorate


def _open(kind: str, name: str, options: dict[str, Any], capture: _Capture,
          args: tuple[Any, ...], kwargs: dict[str, Any]) -> LLMObsSpan | None:
    tracer = state.tracer
    if tracer is None:
        return None
    span = tracer.start_span(kind, name, options.get("session_id"), options.get("ml_app"),
                             options.get("model_name"), options.get("model_provider"))
    span.tags = {**span.tags, **DECORATOR_TAG} if span.tags else DECORATOR_TAG.copy()
    if kind == "agent" and options.get("version") is not None:
        span.tags["agent_version"] = str(options["version"])
    if capture.inputs:
        try:
            named = capture.arguments(args, kwargs)
            if len(named) == 1 and kind in _MESSAGE_KINDS:  # the messages or documents
                span.input = shape_io_leniently(kind, 0, next(iter(named.values())))
            elif named:  # as ddtrace: the arguments by name, always
                span.input = shape_io_leniently(kind, 0, named)
        except Exception:  # a broken signature must never stop the user's call
            pass
    return span


def _close(span: LLMObsSpan, capture: _Capture, result: Any) -> None:
    if capture.outputs and span.output is None and result is not None:
        span.output = shape_io_leniently(span.kind, 1, result)


def _wrap_function(fn, kind, name, options, capture):
    def traced(*args, **kwargs):
        span = _open(kind, name, options, capture, args, kwargs)
        if span is None:
            return fn(*args, **kwargs)
        with span:
            result = fn(*args, **kwargs)
            _close(span, capture, result)
            return result
    return traced


def _wrap_coroutine(fn, kind, name, options, capture):
    async def traced(*args, **kwargs):
        span = _open(kind, name, options, capture, args, kwargs)
        if span is None:
            return await fn(*args, **kwargs)
        with span:
            try:
                result = await fn(*args, **kwargs)
            except asyncio.CancelledError as exc:
                _mark_cancelled(span, exc)
                raise
            _close(span, capture, result)
            return result
    return traced


def _mark_cancelled(span: LLMObsSpan, exc: BaseException) -> None:
    span.set_exception(exc)
    span.tags = {**(span.tags or {}), "cancelled": "true"}


def _wrap_generator(fn, kind, name, options, capture):
    def traced(*args, **kwargs):
        span = _open(kind, name, options, capture, args, kwargs)
        if span is None:
            return (yield from fn(*args, **kwargs))
        # The span is active only while the generator's own code runs, never between yields.
        gen = fn(*args, **kwargs)
        sent: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = current_parent.set(span)
                try:
                    item = gen.send(sent) if to_throw is None else gen.throw(to_throw)
                finally:
                    current_parent.reset(token)
                to_throw = None
                try:
                    sent = yield item
                except GeneratorExit:
                    gen.close()
                    raise
                except BaseException as exc:  # thrown in by the consumer: pass it on
                    to_throw = exc
        except StopIteration as stop:
            _close(span, capture, stop.value)
            return stop.value
        except GeneratorExit:
            raise
        except BaseException as exc:
            span.set_exception(exc)
            raise
        finally:
            span.finish()
    return traced


def _wrap_async_generator(fn, kind, name, options, capture):
    async def traced(*args, **kwargs):
        span = _open(kind, name, options, capture, args, kwargs)
        agen = fn(*args, **kwargs)
        sent: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = None if span is None else current_parent.set(span)
                try:
                    if to_throw is None:
                        item = await agen.asend(sent)
                    else:
                        item = await agen.athrow(to_throw)
                finally:
                    if token is not None:
                        current_parent.reset(token)
                to_throw = None
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:  # thrown in by the consumer: pass it on
                    to_throw = exc
        except StopAsyncIteration:
            pass
        except GeneratorExit:
            raise
        except asyncio.CancelledError as exc:
            if span is not None:
                _mark_cancelled(span, exc)
            raise
        except BaseException as exc:
            if span is not None:
                span.set_exception(exc)
            raise
        finally:
            if span is not None:
                span.finish()
    return traced


def _kind_decorator(kind: str) -> Callable[..., Any]:
    def decorator(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        if fn is not None and callable(fn):
            return span_decorator(kind)(fn)
        return span_decorator(kind, **options)
    decorator.__name__ = decorator.__qualname__ = kind
    decorator.__doc__ = (f"Trace the decorated callable as a {kind} span: bare (@{kind}) or "
                         f"called (@{kind}(name=..., capture_input=False, ...)).")
    return decorator


llm = _kind_decorator("llm")
embedding = _kind_decorator("embedding")
workflow = _kind_decorator("workflow")
agent = _kind_decorator("agent")
tool = _kind_decorator("tool")
task = _kind_decorator("task")
retrieval = _kind_decorator("retrieval")

__all__ = ["agent", "embedding", "llm", "retrieval", "task", "tool", "workflow"]
