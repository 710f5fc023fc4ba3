"""LLMObs.get_spans(): ddtrace's query of recorded spans, answered from the local store."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .span_search import compile_query
from .store.queries import get_trace, list_spans

_RELATIVE = re.compile(r"now(?:-(\d+)([smhdw]))?")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SCAN = 10_000  # spans read from the store at most, before the filters the store cannot apply


def timestamp_ns(value: Any, name: str) -> int:
    """"now", "now-<n><s|m|h|d|w>", an ISO 8601 date or time, or Unix milliseconds."""
    if type(value) is int:
        return value * 1_000_000
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        relative = _RELATIVE.fullmatch(value.strip())
        if relative:
            amount, unit = relative.groups()
            back = int(amount) * _UNIT_S[unit] if amount else 0
            return time.time_ns() - back * 1_000_000_000
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} {value!r}: use 'now', 'now-7d', an ISO 8601 date or "
                             f"Unix milliseconds") from None
    else:
        raise TypeError(f"{name} must be a string, a datetime or Unix milliseconds")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1_000_000_000)


def get_spans(store: Any, default_ml_app: str | None, trace_id: str | None = None,
              span_id: str | None = None, query: str | None = None,
              span_kind: str | None = None, span_name: str | None = None,
              ml_app: str | None = None, tags: Mapping[str, str] | None = None,
              from_date: Any = "now-7d", to_date: Any = "now", sort: str = "timestamp",
              limit: int = 10) -> list[dict[str, Any]]:
    """Span records like those ddtrace's get_spans() returns, oldest first ("timestamp") or
    newest first ("-timestamp")."""
    matches_query = None if query is None else compile_query(query)
    if sort not in ("timestamp", "-timestamp"):
        raise ValueError("sort must be 'timestamp' or '-timestamp'")
    since, until = timestamp_ns(from_date, "from_date"), timestamp_ns(to_date, "to_date")
    app = ml_app or default_ml_app
    wanted = [f"{key}:{value}" for key, value in (tags or {}).items()]
    try:
        if trace_id is not None:
            events = (get_trace(store, trace_id) or {"spans": []})["spans"]
        else:
            events = [row["event"] for row in list_spans(store, ml_app=app, tags=wanted,
                                                         since_ns=since, limit=_SCAN)]
    except FileNotFoundError:  # nothing written yet: enabled, but no span has reached it
        return []
    found = [_record(event) for event in events
             if _matches(event, span_id, span_kind, span_name, app, wanted, since, until)
             and (matches_query is None or matches_query(event))]
    found.sort(key=lambda span: span["start_ns"], reverse=sort == "-timestamp")
    return found[:limit]


def _matches(event: dict[str, Any], span_id: str | None, span_kind: str | None,
             span_name: str | None, ml_app: str | None, wanted: list[str], since: int,
             until: int) -> bool:
    tags = event.get("tags") or ()
    return ((span_id is None or event.get("span_id") == str(span_id))
            and (span_kind is None or event["meta"]["span"]["kind"] == span_kind)
            and (span_name is None or event.get("name") == span_name)
            and (ml_app is None or f"ml_app:{ml_app}" in tags)
            and all(tag in tags for tag in wanted)
            and since <= event.get("start_ns", 0) <= until)


def _record(event: dict[str, Any]) -> dict[str, Any]:
    meta = event.get("meta") or {}
    tags = event.get("tags") or []
    return {
        "span_id": event.get("span_id"), "trace_id": event.get("trace_id"),
        "parent_id": event.get("parent_id"), "name": event.get("name"),
        "span_kind": meta.get("span", {}).get("kind"), "status": event.get("status"),
        "start_ns": event.get("start_ns"), "duration": event.get("duration"),
        "ml_app": next((t[7:] for t in tags if t.startswith("ml_app:")), None),
        "session_id": event.get("session_id"), "input": meta.get("input", {}),
        "output": meta.get("output", {}), "metadata": meta.get("metadata", {}),
        "metrics": event.get("metrics", {}), "tags": tags, "meta": meta,
    }
