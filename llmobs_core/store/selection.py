"""The viewer's filters as SQL on the store's traces: tags, session, service and ml_app through
the tag index; kind, model and status through the facts the sink puts in each trace's tag set;
time on the index by start; free text through the viewer's text index. Each clause keeps every
trace that may match; the decoded spans decide (pages.py), so a trace stored before facts
existed, or not in the text index yet, is kept here and checked there."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from . import text_index
from .reading import StorePath, trace_filters, wanted_tags
from .rows import TextMatch


@dataclass(frozen=True)
class Filters:
    ml_app: str | None = None
    service: str | None = None
    session: str | None = None
    tags: tuple[str, ...] = ()
    status: str | None = None  # "ok" or "error"
    kind: str | None = None
    model: str | None = None
    text: str | None = None  # free text over inputs and outputs, case-insensitive substring
    since_ns: int | None = None
    until_ns: int | None = None


@dataclass(frozen=True)
class Selection:
    set_where: list[str]  # clauses on tag_set_id alone
    set_params: list[Any]
    row_where: list[str]  # clauses on a trace row's start and id
    row_params: list[Any]
    text: TextMatch | None = None  # the text filter through the text index
    unindexed_traces: int = 0  # trace rows the text index does not hold yet

    @property
    def where(self) -> list[str]:
        return [*self.set_where, *self.row_where]

    @property
    def params(self) -> list[Any]:
        return [*self.set_params, *self.row_params]


_RECENT, _DENSE = 1_000, 0.2  # a text in 20% of the newest 1,000 traces is read, not looked up
_SETS_WITH = ("SELECT s.id FROM tag_sets s, json_each(s.tag_ids) j WHERE j.value IN"
              " (SELECT id FROM tags WHERE key = ? AND value = ?)")
_UNMARKED = ("SELECT s.id FROM tag_sets s WHERE NOT EXISTS (SELECT 1 FROM json_each(s.tag_ids) j"
             " WHERE j.value IN (SELECT id FROM tags WHERE key = '@facts'))")


def select_traces(conn: sqlite3.Connection, path: StorePath, filters: Filters) -> Selection:
    """Clauses on `traces` keeping those that may pass `filters` as a trace does (kind, model
    and text on any of its spans, status its own); attaches the text index to `conn` when the
    text filter can use it."""
    where, params = _on_tag_sets(filters)
    if filters.status == "ok":
        where.append(f"tag_set_id NOT IN ({_SETS_WITH})")
        params += ["@status", "error"]
    row_where, row_params = [], []
    for clause, value in (("start_ns >= ?", filters.since_ns), ("start_ns < ?", filters.until_ns)):
        if value is not None:
            row_where.append(clause)
            row_params.append(value)
    text, unindexed = _text(conn, path, filters.text)
    if text is not None and not text.dense:
        clause, values = text_index.trace_clause(text.query, text.coverage)
        row_where.append(clause)
        row_params += values
    return Selection(where, params, row_where, row_params, text, unindexed)


def select_spans(conn: sqlite3.Connection, path: StorePath, filters: Filters) -> Selection:
    """Clauses on `traces` keeping those that may hold a span passing `filters` (a trace
    that holds errors, or began before `since_ns`, may hold such a span), and the text
    filter through the text index."""
    where, params = _on_tag_sets(filters)
    text, unindexed = _text(conn, path, filters.text)
    return Selection(where, params, [], [], text, unindexed)


def _on_tag_sets(filters: Filters) -> tuple[list[str], list[Any]]:
    where, params = trace_filters(
        wanted_tags(filters.ml_app, filters.session, filters.service, filters.tags))
    for key, value in (("@kind", filters.kind), ("@model", filters.model)):
        if value:
            where.append(f"tag_set_id IN ({_SETS_WITH} UNION {_UNMARKED})")
            params += [key, value]
    if filters.status == "error":  # a trace without facts: the SDK tags each span error:0/1
        where.append(f"tag_set_id IN ({_SETS_WITH} UNION SELECT * FROM ({_UNMARKED}"
                     f" INTERSECT {_SETS_WITH}))")
        params += ["@status", "error", "error", "1"]
    return where, params


def _text(conn: sqlite3.Connection, path: StorePath,
          text: str | None) -> tuple[TextMatch | None, int]:
    if not text or not text_index.searchable(text):
        return None, 0
    found = text_index.attach(conn, path)
    if found is None:
        return None, 0
    (unindexed,) = conn.execute("SELECT count(*) FROM traces WHERE id < ? OR id > ?",
                                (found.trace_lo, found.trace_hi)).fetchone()
    query = text_index.match_query(text)
    (in_recent,) = conn.execute(
        "SELECT count(*) FROM text_index.body WHERE body MATCH ? AND rowid > ?",
        (query, found.trace_hi - _RECENT)).fetchone()
    return TextMatch(query, found, in_recent >= _RECENT * _DENSE), unindexed
