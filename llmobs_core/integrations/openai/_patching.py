"""What the OpenAI integration wraps: the resource methods of chat completions, responses and
embeddings, sync and async, and the stream helpers' managers. Never the HTTP layer."""

from __future__ import annotations

import importlib

from .._calls import async_wrapper, sync_wrapper
from .._patch import Patches, manager_wrapper
from . import chat, embeddings, responses

_patches = Patches()


def patch() -> None:
    """Wrap the openai client's methods (idempotent)."""
    completions = importlib.import_module("openai.resources.chat.completions.completions")
    responses_module = importlib.import_module("openai.resources.responses.responses")
    embeddings_module = importlib.import_module("openai.resources.embeddings")
    wrap = _patches.wrap
    for sync, cls in ((True, completions.Completions), (False, completions.AsyncCompletions)):
        make = sync_wrapper if sync else async_wrapper
        wrap(cls, "create", make("openai.chat", chat.open_create))
        wrap(cls, "parse", make("openai.chat", chat.open_parse))
        wrap(cls, "stream", manager_wrapper("openai.chat"))
    for sync, cls in ((True, responses_module.Responses),
                      (False, responses_module.AsyncResponses)):
        make = sync_wrapper if sync else async_wrapper
        wrap(cls, "create", make("openai.responses", responses.open_create))
        wrap(cls, "parse", make("openai.responses", responses.open_parse))
        wrap(cls, "stream", manager_wrapper("openai.responses"))
    wrap(embeddings_module.Embeddings, "create",
         sync_wrapper("openai.embeddings", embeddings.open_create))
    wrap(embeddings_module.AsyncEmbeddings, "create",
         async_wrapper("openai.embeddings", embeddings.open_create))


def unpatch() -> None:
    """Put the original methods back."""
    _patches.undo()
