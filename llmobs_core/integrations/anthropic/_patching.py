"""What the Anthropic integration wraps: `messages.create` (sync and async) and the
`messages.stream` helper's managers, and their twins in the beta namespace
(`client.beta.messages`) where the client has it. Never the HTTP layer."""

from __future__ import annotations

import importlib
from types import ModuleType

from .._calls import async_wrapper, sync_wrapper
from .._patch import Patches, manager_wrapper
from . import messages

_patches = Patches()


def patch() -> None:
    """Wrap the anthropic client's methods (idempotent)."""
    _wrap(importlib.import_module("anthropic.resources.messages.messages"))
    try:
        beta = importlib.import_module("anthropic.resources.beta.messages.messages")
    except ImportError:  # a client from before the beta namespace
        return
    _wrap(beta)


def _wrap(module: ModuleType) -> None:
    wrap = _patches.wrap
    wrap(module.Messages, "create", sync_wrapper("anthropic.messages", messages.open_create))
    wrap(module.AsyncMessages, "create",
         async_wrapper("anthropic.messages", messages.open_create))
    # The helper posts the request itself (not through create), when its manager is entered.
    for cls in (module.Messages, module.AsyncMessages):
        wrap(cls, "stream", manager_wrapper("anthropic.messages", _open_streamed))


def _open_streamed(resource: object, kwargs: dict) -> messages.MessageCall | None:
    return messages.open_create(resource, {**kwargs, "stream": True})


def unpatch() -> None:
    """Put the original methods back."""
    _patches.undo()
