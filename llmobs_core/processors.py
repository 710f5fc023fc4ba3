"""What a span processor receives: ddtrace's shape and llmobs's, in one object.

ddtrace's processors read and set `span.input` / `span.output` (lists of {"content", "role"}
messages), `span.metadata` and `span.get_tag(key)`; llmobs's former processors take the span
event as a dict. ProcessorSpan is both: the event dict (read and mutate it as a dict), with
ddtrace's attributes beside it. Returning None drops the span; what the processor changed,
through either face, is what is sent. Runs on the writer thread."""

from __future__ import annotations

import copy
from typing import Any

from ._log import warn_limited
from ._values import as_text

Message = dict[str, Any]


class ProcessorSpan(dict[str, Any]):
    """A span event for the span processor, with ddtrace's LLMObsSpan attributes."""

    __slots__ = ("input", "output", "metadata", "_tags", "_kind", "_seen")

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(event)
        meta = event["meta"]
        kind = meta["span"]["kind"]
        self.input: list[Message] = _messages_of(kind, meta.get("input"))
        self.output: list[Message] = _messages_of(kind, meta.get("output"))
        metadata = meta.get("metadata")
        self.metadata: dict[str, Any] = metadata if type(metadata) is dict else {}
        tags = dict(tag.partition(":")[::2] for tag in event.get("tags") or ())
        tags["span.kind"] = kind
        self._tags: dict[str, str] = tags
        self._kind = kind
        self._seen = copy.deepcopy((self.input, self.output, tags, self.metadata))

    def get_tag(self, key: str) -> str | None:
        """The span's tag `key` (span.kind included), or None."""
        return self._tags.get(key)

    def to_event(self) -> dict[str, Any]:
        """The event to send: the dict as the processor left it, with what it set through
        input, output, metadata and tags written back (as ddtrace does)."""
        event = dict(self)
        meta = event["meta"] = dict(event["meta"])
        kind = self._kind
        for key, messages, seen in (("input", self.input, self._seen[0]),
                                    ("output", self.output, self._seen[1])):
            if messages != seen and meta.get(key) is not None:
                meta[key] = _written_back(kind, meta[key], messages)
        if type(self.metadata) is not dict:
            warn_limited("processor.metadata", "llmobs: the span processor set metadata to a "
                         "%s, not a dict; the metadata was left as it was",
                         type(self.metadata).__name__)
        elif self.metadata != self._seen[3]:
            meta["metadata"] = self.metadata
        if self._tags != self._seen[2]:
            event["tags"] = [f"{key}:{value}" for key, value in self._tags.items()
                             if key != "span.kind"]
        return event


def _messages_of(kind: str, io: Any) -> list[Message]:
    if type(io) is not dict:
        return []
    if kind == "llm" and io.get("messages") is not None:
        return [{**m, "role": m.get("role") or ""} for m in io["messages"]]
    if io.get("value") is not None:
        return [{"content": io["value"], "role": ""}]
    if io.get("documents") is not None:
        return [{"content": d.get("text", ""), "role": ""} for d in io["documents"]]
    return []


def _written_back(kind: str, io: dict[str, Any], messages: Any) -> dict[str, Any]:
    if type(messages) is not list or not all(type(m) is dict for m in messages):
        warn_limited("processor.io", "llmobs: the span processor set input or output to "
                     "something other than a list of message dicts; it was left as it was")
        return io
    io = dict(io)
    if kind == "llm" and "messages" in io:
        io["messages"] = messages
    elif "value" in io:
        if messages:
            io["value"] = as_text(messages[0].get("content", ""))
    elif "documents" in io:
        documents = io["documents"]
        io["documents"] = [{**documents[i], "text": as_text(m.get("content", ""))}
                           for i, m in enumerate(messages) if i < len(documents)]
    return io
