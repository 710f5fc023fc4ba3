"""Sinks and the writer. `sinks_for(config)` turns the `exporter` setting into sink objects."""

from __future__ import annotations

from typing import Any

from .base import Event, Sink

__all__ = ["Event", "Sink", "sinks_for"]

_NAMES = ("console", "local", "memory")


def _named_sink(name: str) -> Sink:
    if name == "console":
        from .console import ConsoleSink

        return ConsoleSink()
    if name == "memory":
        from .memory import MemorySink

        return MemorySink()
    if name == "local":
        from .local import LocalStoreSink

        return LocalStoreSink()
    raise ValueError(f"unknown exporter {name!r}: use one of {', '.join(_NAMES)} or a Sink object")


def sinks_for(exporter: Any) -> list[Sink]:
    """None means the local store; a name, a Sink, or a list of either picks others."""
    if exporter is None:
        exporter = "local"
    items = exporter if isinstance(exporter, (list, tuple)) else [exporter]
    sinks = []
    for item in items:
        if isinstance(item, str):
            sinks.append(_named_sink(item.strip().lower()))
        elif isinstance(item, Sink):
            sinks.append(item)
        else:
            raise TypeError(
                f"exporter {item!r} is neither a name ({', '.join(_NAMES)}) nor a Sink "
                "(an object with send_spans, send_evaluations and shutdown)"
            )
    return sinks
