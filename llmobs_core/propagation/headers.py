"""Trace context in HTTP-style headers: `inject` writes Datadog x-datadog-*, W3C traceparent and
tracestate, and baggage; `extract` reads any of them into a `RemoteContext`, or None, and never
raises. The formats, their size budgets and which header wins (docs/wire-formats.md)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

from ..config import PROPAGATION_STYLES, ml_app_problem
from ..sampling import format_rate, parse_decision, parse_rate
from . import datadog, w3c
from .common import (
    MAX_64,
    MAX_128,
    PRIORITY_MAX,
    PRIORITY_MIN,
    add_unique,
    log,
    new_tuple,
    parse_decimal,
    parse_hex,
)

__all__ = ["HEADERS", "RemoteContext", "extract", "extract_dict", "inject", "inject_dict"]

HEADERS = (
    datadog.TRACE_ID, datadog.PARENT_ID, datadog.SAMPLING_PRIORITY, datadog.TAGS,
    w3c.TRACEPARENT, w3c.TRACESTATE, w3c.BAGGAGE,
)
_MAX_INPUT = {datadog.TAGS: datadog.TAGS_MAX, w3c.TRACESTATE: 8192, w3c.BAGGAGE: 8192}
_MAX_INPUT_DEFAULT = 256


class RemoteContext(NamedTuple):
    """The caller's trace context, read from headers. Immutable; a NamedTuple rather than a
    frozen dataclass, whose __init__ costs a call of object.__setattr__ for each field (15,000
    instructions each request that carries headers, against 3,800)."""

    trace_id: int
    parent_id: int | None
    apm_trace_id: int
    apm_parent_id: int
    sampling_priority: int | None
    ml_app: str | None
    session_id: str | None
    sample_rate: float | None = None  # _dd.p.llmobs_sr, as the caller sent it
    sampled: bool | None = None  # _dd.p.llmobs_sd: the caller's decision, which wins here
    # _dd.p.llmobs_pagent_name / _span_id: the caller's nearest agent span, (name, id), either
    # possibly None (ddtrace's tracestate can lack room for the id)
    pagent: tuple[str | None, int | None] | None = None


def inject(
    setter: Callable[[str, str], None],
    *,
    trace_id: Any,
    span_id: Any,
    apm_trace_id: Any,
    ml_app: Any,
    session_id: Any,
    sampling_priority: Any = 1,
    sample_rate: float | None = None,
    sampled: bool | None = None,
    styles: Collection[str] = PROPAGATION_STYLES,
    pagent: tuple[str | None, int | None] | None = None,
) -> None:
    """Write the context of the span `span_id` through `setter(name, value)`, in the header
    formats `styles` names (DD_TRACE_PROPAGATION_STYLE_INJECT's values). The ids (ints in
    range) and names (str or None) are checked here: ValueError, and nothing written."""
    _check_int("trace_id", trace_id, 1, MAX_128)
    _check_int("span_id", span_id, 1, MAX_64)
    _check_int("apm_trace_id", apm_trace_id, 1, MAX_128)
    _check_int("sampling_priority", sampling_priority, PRIORITY_MIN, PRIORITY_MAX)
    for name, value in (("ml_app", ml_app), ("session_id", session_id)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a str or None, got {type(value).__name__}")
    required = {"llmobs_parent_id": str(span_id), "llmobs_trace_id": str(trace_id)}
    if apm_trace_id >> 64:
        required = {"tid": f"{apm_trace_id >> 64:016x}", **required}
    if sample_rate is not None:
        required["llmobs_sr"] = format_rate(sample_rate)
    if sampled is not None:
        required["llmobs_sd"] = "1" if sampled else "0"
    optional = [(k, v) for k, v in (("llmobs_ml_app", ml_app), ("llmobs_sid", session_id)) if v]
    if pagent is not None and pagent[1] is not None:  # as ddtrace: an id, then a name if it fits
        optional.append(("llmobs_pagent_span_id", str(pagent[1])))
        if pagent[0]:
            optional.append(("llmobs_pagent_name", pagent[0]))
    in_baggage = [(k, v) for k, v in (("ml_app", ml_app), ("session.id", session_id)) if v]
    args = (apm_trace_id, span_id, sampling_priority, required, optional)
    headers: dict[str, str] = {}
    if "datadog" in styles:
        headers.update(datadog.encode(*args))
    if "tracecontext" in styles:
        headers.update(w3c.encode_trace_context(*args))
    if "baggage" in styles:
        headers.update(w3c.encode_baggage(in_baggage))
    for name, value in headers.items():
        setter(name, value)


def inject_dict(headers: dict, **context: Any) -> dict:
    """Inject into a dict, first removing any propagation header of another letter case;
    `context` is inject()'s keyword arguments."""
    for key in [k for k in headers if isinstance(k, str) and k.lower() in HEADERS]:
        del headers[key]
    inject(headers.__setitem__, **context)
    return headers


def extract(getter: Callable[[str], object],
            styles: Sequence[str] = PROPAGATION_STYLES) -> RemoteContext | None:
    """Read the remote parent through `getter(lowercase name)`, which returns None when absent,
    from the header formats `styles` names (DD_TRACE_PROPAGATION_STYLE_EXTRACT's values)."""
    try:
        return _extract(_reader(getter), styles)
    except Exception:
        log.debug("llmobs propagation: unreadable trace headers ignored", exc_info=True)
        return None


def extract_dict(headers: Mapping,
                 styles: Sequence[str] = PROPAGATION_STYLES) -> RemoteContext | None:
    """Extract from a mapping with keys in any letter case and values str or bytes."""
    try:
        found: dict[str, object] = {}
        conflicts: set[str] = set()
        for key, value in headers.items():
            name = _text(key)
            if name is not None and name.lower() in HEADERS:
                add_unique(found, conflicts, name.lower(), value)
    except Exception:
        log.debug("llmobs propagation: unreadable header mapping ignored", exc_info=True)
        return None
    return extract(found.get, styles)


_LLMOBS_KEYS = frozenset(("llmobs_trace_id", "llmobs_parent_id", "llmobs_ml_app", "llmobs_sid",
                          "llmobs_sr", "llmobs_sd"))
_LLMOBS_TAGS = _LLMOBS_KEYS | {"llmobs_pagent_name", "llmobs_pagent_span_id"}


def _extract(get: Callable[[str], str | None], styles: Sequence[str]) -> RemoteContext | None:
    dd = datadog.decode(get) if "datadog" in styles else None
    tc = None
    if "tracecontext" in styles:
        # tracestate's dd member only adds llmobs keys x-datadog-tags lacks: skip it when it
        # has all.
        tc = w3c.decode_trace_context(
            get, with_state=dd is None or not dd.tags.keys() >= _LLMOBS_KEYS)
    if dd and tc and dd.trace_id != tc.trace_id:
        log.debug("llmobs propagation: Datadog and W3C trace ids differ; the later style "
                  "ignored")
        if styles.index("datadog") < styles.index("tracecontext"):
            tc = None
        else:
            dd = None
    primary = dd or tc
    if primary is None:
        return None
    tags = {**tc.tags, **dd.tags} if dd and tc else primary.tags
    has_app_and_session = tags.get("llmobs_ml_app") and tags.get("llmobs_sid")
    baggage = ({} if has_app_and_session or "baggage" not in styles
               else w3c.decode_baggage(get(w3c.BAGGAGE)))
    if not baggage and tags.keys().isdisjoint(_LLMOBS_TAGS):
        # A caller traced without LLMObs (most): none of the parsers below would find a value.
        # Every field by position, in RemoteContext's order, through tuple.__new__: the
        # NamedTuple's generated __new__ is a Python call, on every request a traced caller
        # sends (three times the cost again by keyword).
        return new_tuple(RemoteContext, (
            primary.trace_id,  # trace_id
            None,  # parent_id
            primary.trace_id,  # apm_trace_id
            (tc or primary).parent_id,  # apm_parent_id
            primary.sampling_priority,  # sampling_priority
            None,  # ml_app
            None,  # session_id
            None,  # sample_rate
            None,  # sampled
            None))  # pagent
    return new_tuple(RemoteContext, (
        _llmobs_trace_id(tags.get("llmobs_trace_id")) or primary.trace_id,  # trace_id
        parse_decimal(tags.get("llmobs_parent_id"), MAX_64),  # parent_id
        primary.trace_id,  # apm_trace_id
        (tc or primary).parent_id,  # apm_parent_id
        primary.sampling_priority,  # sampling_priority
        _ml_app(tags.get("llmobs_ml_app"), baggage.get("ml_app")),  # ml_app
        tags.get("llmobs_sid") or baggage.get("session.id") or None,  # session_id
        parse_rate(tags.get("llmobs_sr")),  # sample_rate
        parse_decision(tags.get("llmobs_sd")),  # sampled
        _pagent(tags.get("llmobs_pagent_name"), tags.get("llmobs_pagent_span_id")),  # pagent
    ))


def _pagent(name: str | None, span_id: str | None) -> tuple[str | None, int | None] | None:
    """The caller's nearest agent span: its name and its id (a decimal span id), as far as
    they came (ddtrace's tracestate may carry the name alone)."""
    agent_id = parse_decimal(span_id, MAX_64)
    return None if agent_id is None and not name else (name or None, agent_id)


def _ml_app(*candidates: str | None) -> str | None:
    """The first propagated ml_app that is valid as an explicit one would be; any caller can
    send these headers, so an invalid one is ignored, not trusted."""
    for name in candidates:
        if name:
            problem = ml_app_problem(name)
            if problem is None:
                return name
            log.debug("llmobs propagation: propagated ml_app %r ignored: %s", name[:200], problem)
    return None


def _llmobs_trace_id(text: str | None) -> int | None:
    """Decimal, as ddtrace writes it; also 32 hex digits, which ddtrace accepts when unambiguous."""
    if text is not None and len(text) == 32 and not (text.isdigit() and text[0] != "0"):
        return parse_hex(text, 32)
    return parse_decimal(text, MAX_128)


def _reader(getter: Callable[[str], object]) -> Callable[[str], str | None]:
    def get(name: str) -> str | None:
        try:
            raw = getter(name)
        except Exception:
            log.debug("llmobs propagation: reading %s failed", name, exc_info=True)
            return None
        if raw is None:  # absent: most of the names asked for, on most requests
            return None
        limit = _MAX_INPUT.get(name, _MAX_INPUT_DEFAULT)
        if (type(raw) is bytes or isinstance(raw, (str, bytes, bytearray))) and len(raw) > limit:
            log.debug("llmobs propagation: %s ignored: over %d characters", name, limit)
            return None
        value = raw.decode("latin-1") if type(raw) is bytes else _text(raw)  # bytes: ASGI's
        return None if value is None else value.strip(" \t")

    return get


def _text(value: object) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else None


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")
