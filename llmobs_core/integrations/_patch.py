"""Wrapping a client's methods with wrapt, and undoing it: `Patches.wrap` puts a wrapt
FunctionWrapper in the class's dict (once: wrapping twice does nothing), `undo` puts the
original methods back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wrapt

from .._adapter import active_tracer, capture_faults
from ._streams import TracedStreamManager


class Patches:
    def __init__(self) -> None:
        self.applied: list[tuple[type, str, Any, Any]] = []

    def wrap(self, cls: type, name: str, wrapper: Callable[..., Any]) -> None:
        original = cls.__dict__.get(name)
        if original is None or getattr(original, "_self_llmobs", False):
            return
        wrapped = wrapt.FunctionWrapper(original, wrapper)
        wrapped._self_llmobs = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)
        self.applied.append((cls, name, original, wrapped))

    def undo(self) -> None:
        while self.applied:
            cls, name, original, wrapped = self.applied.pop()
            if cls.__dict__.get(name) is wrapped:
                setattr(cls, name, original)


def manager_wrapper(place: str, open_call: Callable[[Any, dict[str, Any]], Any] | None = None
                    ) -> Callable[..., Any]:
    """For the stream helpers (`client.chat.completions.stream(...)`): their manager, traced.
    With `open_call`, the manager opens the call itself when entered (see TracedStreamManager)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if active_tracer() is None:
            return manager
        with capture_faults(place):
            opener = None if open_call is None else (lambda: open_call(instance, kwargs))
            return TracedStreamManager(manager, opener)
        return manager

    return wrapper
