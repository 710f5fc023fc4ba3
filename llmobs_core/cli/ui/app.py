"""`llmobs ui`: a read-only Starlette app over the local store. Pages are rendered on the
server (lists work without JavaScript); /static/viewer.js adds live mode and the span panels'
toggles; /api/* gives the same data as JSON."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...store import pages, queries, summaries, summary_recent
from . import present
from .guard import ViewerGuard
from .indexer import Indexer
from .params import RANGES, parse
from .templating import STATIC, render

PAGE_SIZE = 50
FACET_LIMIT = 500  # values of each dropdown, most traces first (a chosen one is kept)
RECENT = (summary_recent.SESSION_TRACES, summary_recent.FACET_TRACES)


def create_app(path: queries.StorePath = None, allowed_hosts: frozenset[str] | None = None,
               page_size: int = PAGE_SIZE, recent: tuple[int, int] = RECENT) -> ViewerGuard:
    """The viewer over the store at `path`; see guard.ViewerGuard for `allowed_hosts`. Until
    the summary index is built, Sessions and the dropdowns count only the `recent` newest
    traces (for Sessions, for the dropdowns), and say so on the page. Pages only read the
    side indexes: the indexing process started with the app (lifespan) keeps them."""

    def facets() -> summaries.Facets:
        return summaries.facets(path, limit=FACET_LIMIT, window=recent[1], update=False)

    def page(template: str, status: int = 200, **context: Any) -> Response:
        info = context.pop("info", None) or summaries.store_info(path, count=False)
        return HTMLResponse(render(template, store=info, **context), status_code=status)

    def guarded(endpoint: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                info = summaries.store_info(path, count=False)
                if not info["any"] and endpoint is not trace_page:
                    return page("empty.html", info=info)
                return endpoint(request)
            except sqlite3.OperationalError as exc:  # a write or checkpoint in the way
                response = page("problem.html", 503, problem=f"The store is busy ({exc}).",
                                retry=True)
                response.headers["retry-after"] = "1"
                return response
            except sqlite3.DatabaseError as exc:
                return page("problem.html", 500, problem=str(exc), retry=False)
            except ValueError as exc:  # a cursor or a number in the URL that is not one
                return page("problem.html", 400, problem=str(exc), retry=False)
        return run

    def list_page(request: Request) -> Response:
        query = parse(request.query_params)
        find = pages.find_spans if query.view == "spans" else pages.find_traces
        result = find(path, query.filters, query.before, page_size)
        live_after = pages.last_rowid(path) if query.view == "traces" and not query.before \
            else None
        return page("list.html", query=query, result=result,
                    facets=facets(), kinds=pages.KINDS,
                    ranges=RANGES, live_after=live_after)

    def trace_page(request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        trace = queries.get_trace(path, trace_id) if _exists(path) else None
        if trace is None:
            matches = queries.match_trace_ids(path, trace_id, 11) if _exists(path) else []
            if len(matches) == 1:
                return RedirectResponse(f"/trace/{matches[0]}", 302)
            problem = f"No trace {trace_id!r} in this store." if not matches else (
                f"{trace_id!r} matches {'more than 10' if len(matches) > 10 else len(matches)}"
                f" traces: {', '.join(matches[:10])}. Give more of the id.")
            return page("problem.html", 404, problem=problem, retry=False)
        view = present.trace_view(trace)
        selected = request.query_params.get("span") or (view["rows"] or [{}])[0].get("span_id")
        return page("trace.html", view=view, selected=selected, standalone=False)

    def sessions_page(request: Request) -> Response:
        before = request.query_params.get("before")
        ml_app = request.query_params.get("ml_app") or None
        result = summaries.list_sessions(path, ml_app, before or None, window=recent[0],
                                         update=False)
        return page("sessions.html", result=result, ml_app=ml_app or "",
                    facets=facets())

    def session_page(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        result = pages.find_traces(path, pages.Filters(session=session_id), limit=200)
        return page("session.html", session_id=session_id, turns=list(reversed(result.rows)),
                    more=result.next_cursor is not None)

    def api_traces(request: Request) -> Response:
        query = parse(request.query_params)
        if not _exists(path):
            return _json({"rows": [], "next_cursor": None, "last_rowid": 0})
        after = request.query_params.get("after")
        if after is not None and after.isdigit():
            result = pages.traces_after(path, query.filters, int(after), PAGE_SIZE)
        else:
            result = pages.find_traces(path, query.filters, query.before, PAGE_SIZE)
        rows = [_api_row(row) for row in result.rows]
        return _json({"rows": rows, "next_cursor": result.next_cursor,
                      "last_rowid": result.last_rowid})

    def api_trace(request: Request) -> Response:
        trace = queries.get_trace(path, request.path_params["trace_id"]) \
            if _exists(path) else None
        return _json(trace, 200 if trace is not None else 404)

    routes = [
        Route("/", guarded(list_page)),
        Route("/trace/{trace_id}", guarded(trace_page)),
        Route("/sessions", guarded(sessions_page)),
        Route("/session/{session_id:path}", guarded(session_page)),
        Route("/api/traces", api_traces),
        Route("/api/trace/{trace_id}", api_trace),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    indexer = Indexer(path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        indexer.start()
        try:
            yield
        finally:
            indexer.stop()

    return ViewerGuard(Starlette(routes=routes, lifespan=lifespan), allowed_hosts)


def _exists(path: queries.StorePath) -> bool:
    return bool(summaries.store_info(path, count=False)["exists"])


def _api_row(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("rowid", "trace_id", "start_ns", "ml_app", "root_name", "root_kind", "span_count",
            "duration", "status", "session_id", "total_tokens")
    return {**{key: row[key] for key in keep}, "start": present.local_time(row["start_ns"]),
            "duration_text": present.duration(row["duration"]),
            "evaluations": [present.evaluation(m) for m in row["evaluations"]]}


def _json(value: Any, status: int = 200) -> Response:
    # ensure_ascii: lone surrogates become \udxxx escapes instead of failing to encode
    body = json.dumps(value, ensure_ascii=True, default=str)
    return Response(body, status, media_type="application/json")
