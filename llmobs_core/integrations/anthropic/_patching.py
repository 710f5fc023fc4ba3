"""What the Anthropic integration wraps: `messages.create` (sync and async) and the
`messages.stream` helper's managers. Never the HTTP layer."""

from __future__ import annotations

import importlib

from .._calls import async_wrapper, sync_wrapper
from .._patch import Patches, manager_wrapper
from . import messages

_patches = Patches()


def patch() -> None:
    """Wrap the anthropic client's methods (idempotent)."""
    module = importlib.import_module("anthropic.resources.messages.messages")
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
