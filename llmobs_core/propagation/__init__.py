"""Carrying a trace across process boundaries.

`headers` reads and writes the three header formats (Datadog x-datadog-*, W3C traceparent /
tracestate, baggage: `datadog.py`, `w3c.py`) and knows nothing of spans; `spans` writes the
active span's context into outgoing headers and makes an incoming context the parent of the
spans opened here. docs/wire-formats.md describes the headers."""

from .headers import HEADERS, RemoteContext, extract, extract_dict, inject, inject_dict
from .spans import Activation, activate, activate_headers, context_from, inject_headers, inject_into

__all__ = [
    "HEADERS", "Activation", "RemoteContext", "activate", "activate_headers", "context_from",
    "extract", "extract_dict", "inject", "inject_dict", "inject_headers", "inject_into",
]
