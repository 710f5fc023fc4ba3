"""LLMObs.annotation_context(): tags, a prompt and a name given to every span opened while it
is active in the current context (spans already open are left alone). Contexts nest: the
outer one applies first, so an inner one wins for the same tag."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from ._log import warn_limited
from ._values import as_name, safe_repr
from .annotations import _apply_tags, _dropped
from .context import annotation_contexts
from .prompts import apply_prompt

if TYPE_CHECKING:
    from .span import LLMObsSpan


class AnnotationContext:
    """A context manager, sync or async; not reentrant (enter each one once at a time)."""

    __slots__ = ("tags", "prompt", "name", "_token")

    def __init__(self, tags: Any = None, prompt: Any = None, name: Any = None) -> None:
        self.tags, self.prompt = tags, prompt
        self.name = None if name is None else as_name(name)
        if name is not None and self.name is None:
            warn_limited("annotation_context.name", "llmobs: annotation_context(name=%s) "
                         "ignored: use a string", safe_repr(name))
        self._token: contextvars.Token[tuple[Any, ...]] | None = None

    def __enter__(self) -> AnnotationContext:
        self._token = annotation_contexts.set((*annotation_contexts.get(), self))
        return self

    def __exit__(self, *exc: Any) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            annotation_contexts.reset(token)
        except ValueError:  # exited in another context than it was entered in
            annotation_contexts.set(tuple(c for c in annotation_contexts.get() if c is not self))

    async def __aenter__(self) -> AnnotationContext:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)


def apply_contexts(span: LLMObsSpan, contexts: tuple[AnnotationContext, ...]) -> None:
    """Annotate a span that just opened with every active context, outermost first."""
    for context in contexts:
        if context.name is not None:
            span.name = context.name
        if context.tags is not None:
            try:
                _apply_tags(span, context.tags)
            except Exception as exc:
                _dropped(span, "tags", exc)
        if context.prompt is not None:
            apply_prompt(span, context.prompt)
