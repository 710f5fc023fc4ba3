"""Sinks and the writer. `sinks_for(config)` turns the configuration into sink objects."""

from __future__ import annotations

from typing import Any

from .._values import safe_repr
from ..config import Config
from .base import Event, Sink, SpanEvents

__all__ = ["Event", "Sink", "SpanEvents", "default_exporters", "sinks_for"]

_NAMES = ("console", "datadog", "local", "memory", "otlp")


def _named_sink(name: str, config: Config) -> Sink:
    if name == "console":
        from .console import ConsoleSink

        return ConsoleSink()
    if name == "memory":
        from .memory import MemorySink

        return MemorySink()
    if name == "local":
        from .local import LocalStoreSink

        return LocalStoreSink()
    if name == "datadog":
        from .datadog import DatadogSink

        return DatadogSink.from_config(config)
    if name == "otlp":
        from .otlp import OTLPSink

        return OTLPSink.from_config(config)
    raise ValueError(f"unknown exporter {name!r}: use one of {', '.join(_NAMES)} or a Sink object")


def default_exporters(config: Config) -> list[str]:
    """The sinks the settings ask for when no exporter is named: Datadog when agentless mode,
    an Agent or an override origin is set, OTLP when an OTLP endpoint is set, else the local
    store."""
    names = []
    if config.agentless_enabled or config.agent_url or config.override_origin:
        names.append("datadog")
    if config.otlp_endpoint:
        names.append("otlp")
    return names or ["local"]


def sinks_for(config: Any) -> list[Sink]:
    """The sinks for a Config: its `exporter` (a name, a Sink, or a list of either), or when
    that is None, those its other settings ask for (`default_exporters`). A bare exporter value
    in place of a Config is accepted too."""
    if not isinstance(config, Config):
        config = Config(exporter=config)
    exporter = config.exporter
    if exporter is None:
        exporter = default_exporters(config)
    items = exporter if issubclass(type(exporter), (list, tuple)) else [exporter]
    sinks: list[Sink] = []
    try:
        for item in items:
            sinks.append(_sink(item, config))
    except BaseException:
        for item, sink in zip(items, sinks):
            if type(item) is str:  # close what we opened; the caller's sinks stay theirs
                sink.shutdown()
        raise
    return sinks


def _sink(item: Any, config: Config) -> Sink:
    if type(item) is str:
        return _named_sink(item.strip().lower(), config)
    try:
        is_sink = isinstance(item, Sink)
    except Exception:  # an object whose attribute lookup raises
        is_sink = False
    if is_sink:
        return item
    raise TypeError(
        f"exporter {safe_repr(item)} is neither a name ({', '.join(_NAMES)}) nor a Sink "
        "(an object with send_spans, send_evaluations and shutdown)"
    )
