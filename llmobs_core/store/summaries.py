"""What the store holds, summed up: its sessions, the values of the viewer's dropdowns and of
`llmobs apps` (ml_apps, services, sessions, envs, models, with trace counts), the values
nearest to one that matches nothing, and the store's path and size."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from . import summary_reads, summary_recent
from .location import resolve_store_path
from .reading import StorePath, reading
from .summary_index import FACET_KEYS
from .traces import FACT_KEYS, FACTS_MARK

RESERVED_KEYS = (*FACT_KEYS, FACTS_MARK.partition(":")[0])


@dataclass
class Sessions:
    rows: list[dict[str, Any]]
    next_cursor: str | None = None  # pass as `before` for the next (older) page
    note: str | None = None  # what the page does not count yet


def list_sessions(path: StorePath, ml_app: str | None = None, before: str | None = None,
                  limit: int = 50, window: int = summary_recent.SESSION_TRACES,
                  update: bool = True) -> Sessions:
    """Sessions, most recently active first: traces, tokens, first input, last output, time
    span; with `ml_app`, the traces with a span of that ml_app. Read off the viewer's summary
    index once built (summary_index.py), else summed over the `window` newest traces only
    (summary_recent.py; `note` says so when the store holds more). `update`: bring a built
    index up to date first, for at most 50 ms (the viewer's indexing process does it
    instead)."""
    after = _cursor(before)
    if update:
        summary_reads.update(path)
    with reading(path) as conn:
        if conn is None:
            return Sessions([])
        found = summary_reads.session_rows(conn, path, ml_app, after, limit)
        if found is None:
            rows, note = summary_recent.sessions(conn, path, ml_app, after, limit, window)
        else:
            rows, behind = found
            note = None if not behind else (
                f"{behind:,}{'+' if behind > summary_reads.DELTA_LIMIT else ''} traces stored"
                " in the last moments are not counted yet")
    cursor = f"{rows[-1]['last_start_ns']}:{rows[-1]['session_id']}" \
        if len(rows) == limit else None
    return Sessions(rows, cursor, note)


def _cursor(text: str | None) -> tuple[int, str]:
    """(last start, session) of the last session of the page before: "ns:session"."""
    if text is None:
        return summary_reads.FIRST_PAGE
    number, colon, session = text.partition(":")
    try:
        return int(number), session if colon else ""
    except ValueError:
        raise ValueError(f"{text!r} is not a cursor of the sessions list") from None


class Facets(dict[str, list[tuple[str, int]]]):
    """facets(): key: [(value, traces)], and what the counts leave out (`note`)."""

    note: str | None = None


def facets(path: StorePath, recent_traces: int = 500, limit: int | None = None,
           window: int | None = None, update: bool = True) -> Facets:
    """Values with trace counts, most traces first (at most `limit` of each): ml_app, service,
    session_id, env and model (model_name). Read off the viewer's summary index when it is
    built (models of every trace); else from the tag index over every trace, or over the
    `window` newest only (the viewer's bound while the index is built: `note` says so), models
    also from the `recent_traces` newest traces stored without facts (docs/local-store.md,
    "Facts"). `update`: as for list_sessions()."""
    found = Facets({key: [] for key in (*FACET_KEYS, "model")})
    if update:
        summary_reads.update(path)
    with reading(path) as conn:
        if conn is None:
            return found
        counts = summary_reads.facet_counts(conn, path)
        if counts is None:
            counts, found.note = summary_recent.facet_counts(conn, path, recent_traces, window)
    for (key, value), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if key in found and (limit is None or len(found[key]) < limit):
            found[key].append((value, count))
    return found


def nearest(value: str, candidates: list[str], count: int = 3) -> list[str]:
    """The stored values most like `value` (a typo, another case), best first."""
    lowered = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(value.lower(), list(lowered), n=count, cutoff=0.5)
    contained = [key for key in lowered if value.lower() in key and key not in close]
    return [lowered[key] for key in [*close, *contained][:count]]


def tag_keys(path: StorePath) -> list[str]:
    """Every stored tag key, less those the store keeps its facts under."""
    with reading(path) as conn:
        if conn is None:
            return []
        return [key for (key,) in conn.execute("SELECT DISTINCT key FROM tags ORDER BY key")
                if key not in RESERVED_KEYS]


def tag_values(path: StorePath, key: str, limit: int = 1000) -> list[str]:
    """Stored values of the tag `key` (at most `limit`)."""
    with reading(path) as conn:
        if conn is None:
            return []
        return [value for (value,) in conn.execute(
            "SELECT value FROM tags WHERE key = ? ORDER BY value LIMIT ?", (key, limit))]


def store_info(path: StorePath, count: bool = True) -> dict[str, Any]:
    """The absolute path read, whether it exists, whether it holds a trace, its span count and
    (when `count`: a scan of every trace row) its trace count."""
    store = resolve_store_path(path)
    info: dict[str, Any] = {"path": str(store), "exists": store.is_file(), "any": False,
                            "spans": 0, "traces": 0 if count else None}
    if info["exists"]:
        with reading(path) as conn:
            if conn is not None:
                info["any"] = conn.execute("SELECT EXISTS (SELECT 1 FROM traces)").fetchone()[0]
                if count:
                    info["traces"] = conn.execute("SELECT count(*) FROM traces").fetchone()[0]
                info["spans"] = conn.execute(
                    "SELECT value FROM counters WHERE name = 'spans'").fetchone()[0]
    return info
