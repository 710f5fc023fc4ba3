"""Embeddings (`client.embeddings.create`): an embedding span whose output says how many
vectors came back and their size, never the vectors themselves."""

from __future__ import annotations

from typing import Any

from .._calls import Call
from .._values import get, set_metadata
from ._span import open_span


def open_create(resource: Any, kwargs: dict[str, Any]) -> EmbeddingCall | None:
    opened = open_span(resource, "embedding", "createEmbedding", kwargs)
    if opened is None:
        return None
    span, proxy = opened
    inputs = get(kwargs, "input")
    if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                   and isinstance(inputs[0], int)):
        inputs = [inputs]  # one text, or one text as token ids
    span.input = [{"text": item if isinstance(item, str) else str(item)}
                  for item in inputs or ()]
    # What the caller asked for: the client asks the server for base64 when it is not given,
    # and decodes it before returning, so the caller sees floats either way.
    metadata = {"encoding_format": get(kwargs, "encoding_format") or "float"}
    if get(kwargs, "dimensions") is not None:
        metadata["dimensions"] = get(kwargs, "dimensions")
    set_metadata(span, metadata)
    return EmbeddingCall(span, kwargs, proxy)


class EmbeddingCall(Call):
    place = "openai.embeddings"

    def is_stream(self, result: Any) -> bool:
        return False

    def read_response(self, response: Any) -> None:
        model = get(response, "model")
        if isinstance(model, str) and model and not self.proxy:
            self.span.model_name = model
        data = get(response, "data") or []
        vector = get(data[0], "embedding") if data else None
        self.span.output = (f"[{len(data)} embedding(s) returned with size {len(vector)}]"
                            if isinstance(vector, list) else
                            f"[{len(data)} embedding(s) returned]")
        usage = get(response, "usage")
        if usage is not None:
            tokens = get(usage, "prompt_tokens")
            self.metrics({"input_tokens": tokens, "output_tokens": 0,
                          "total_tokens": get(usage, "total_tokens", tokens)})
