"""The `llmobs` command: look at the traces in the local store (`llmobs --help`)."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..config import resolve_store_path
from ..store import queries as store_queries
from ..store.codec import integer
from . import draw
from .literal import json_line, literal, visible

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


class _Since(click.ParamType):
    """10m, 2h, 1d... ago, or an ISO time (local time unless it has an offset), as epoch ns."""

    name = "since"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if match := _DURATION.fullmatch(text):
            ago = float(match[1]) * _SECONDS[match[2].lower()]
            return time.time_ns() - int(ago * 1e9)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is neither a duration like 10m, 2h, 1d nor an ISO time", param,
                      ctx)
        return int(moment.timestamp() * 1e9)


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--ml-app", help="Only this ml_app."),
        click.option("--session", help="Only this session id."),
        click.option("--service", help="Only this service."),
        click.option("--tag", "tags", multiple=True, metavar="KEY:VALUE",
                     help="Only with this tag (repeatable; a bare KEY matches any value)."),
        click.option("--since", "since_ns", type=_Since(), metavar="AGE|TIME",
                     help="Only since then: 10m, 2h, 1d, or an ISO time."),
    ]
    command = _listing_options(command)
    for option in reversed(options):
        command = option(command)
    return command


def _listing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--json", "as_json", is_flag=True,
                           help="One JSON object per line.")(command)
    return click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
                        help="At most this many, newest first.")(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--path", envvar="LLMOBS_LOCAL_PATH", type=click.Path(dir_okay=False),
              help="The trace store [default: LLMOBS_LOCAL_PATH, else .llmobs/traces.db].")
@click.pass_context
def main(ctx: click.Context, path: str | None) -> None:
    """Look at the LLM traces your applications recorded in the local store."""
    ctx.obj = resolve_store_path(path)


@main.command()
@_filter_options
@click.pass_obj
def traces(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent traces, newest first."""
    rows = _read(store, store_queries.list_traces, **filters)
    if _nothing_found(store, rows, filters, "traces"):
        return
    if as_json:
        _print_json_lines(rows)
        return
    table = draw.table("Start", "Trace ID", "ML app", "Root span", "Kind", "Spans",
                       "Duration", "Status", "Session")
    for row in rows:
        table.add_row(draw.local_time(row["start_ns"]), literal(row["trace_id"]),
                      literal(row["ml_app"]), literal(row["root_name"]),
                      literal(row["root_kind"]), str(row["span_count"]),
                      draw.duration(row["duration"]), draw.status(row["status"]),
                      literal(row["session_id"]))
    draw.console().print(table)


@main.command()
@_filter_options
@click.pass_obj
def spans(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent spans, newest first; --json prints each whole span event."""
    rows = _read(store, store_queries.list_spans, **filters)
    if _nothing_found(store, rows, filters, "spans"):
        return
    if as_json:
        _print_json_lines(row["event"] for row in rows)
        return
    table = draw.table("Start", "Trace ID", "Span ID", "Kind", "Name", "ML app",
                       "Service", "Duration", "Status")
    for row in rows:
        table.add_row(draw.local_time(row["start_ns"]), literal(row["trace_id"]),
                      literal(row["span_id"]), literal(row["kind"]), literal(row["name"]),
                      literal(row["ml_app"]), literal(row["service"]),
                      draw.duration(row["duration"]), draw.status(row["status"]))
    draw.console().print(table)


@main.command()
@click.argument("trace_id")
@click.option("--json", "as_json", is_flag=True, help="Each span event, one per line.")
@click.pass_obj
def show(store: Path, trace_id: str, as_json: bool) -> None:
    """The span tree of one trace (TRACE_ID or a unique prefix of it)."""
    matches = _read(store, store_queries.match_trace_ids, prefix=trace_id)
    if matches is None:
        sys.exit(1)
    if len(matches) != 1:
        problem = "matches several traces: " + ", ".join(matches) if matches else "is not stored"
        click.echo(visible(f"Trace {trace_id} {problem} in {_shown(store)}."), err=True)
        sys.exit(1)
    trace = _read(store, store_queries.get_trace, trace_id=matches[0])
    if trace is None:  # pruned since it was matched
        click.echo(visible(f"Trace {matches[0]} is not stored in {_shown(store)}."), err=True)
        sys.exit(1)
    if as_json:
        _print_json_lines(trace["spans"])
    else:
        draw.console().print(draw.trace_tree(trace))


@main.command()
@click.option("--label", help="Only this evaluation label.")
@click.option("--ml-app", help="Only this ml_app.")
@_listing_options
@click.pass_obj
def evals(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent evaluations, newest first."""
    rows = _read(store, store_queries.list_evals, **filters)
    if _nothing_found(store, rows, filters, "evaluations"):
        return
    if as_json:
        _print_json_lines(rows)
        return
    table = draw.table("Time", "Label", "Value", "ML app", "Trace ID", "Span ID",
                       "Assessment", "Reasoning")
    for metric in rows:
        table.add_row(draw.local_time((integer(metric.get("timestamp_ms")) or 0) * 1_000_000),
                      literal(metric.get("label")), literal(draw.metric_value(metric)),
                      literal(metric.get("ml_app")), *draw.join_target(metric),
                      literal(metric.get("assessment")),
                      literal(draw.short(metric.get("reasoning"))))
    draw.console().print(table)


# -- reading ----------------------------------------------------------------------------------

def _read(store: Path, query: Callable[..., Any], **arguments: Any) -> Any:
    """The query's result; a missing store prints the getting-started hint and gives None."""
    try:
        return query(store, **arguments)
    except FileNotFoundError:
        click.echo(_empty_hint(store), err=True)
        return None
    except sqlite3.DatabaseError as exc:
        click.echo(visible(f"Cannot read {_shown(store)}: {exc}"), err=True)
        sys.exit(1)


def _nothing_found(store: Path, rows: list[Any] | None, filters: dict[str, Any], what: str) -> bool:
    """True, having said why, when there is nothing to print."""
    if rows is None:
        return True
    if rows:
        return False
    if any(value for key, value in filters.items() if key != "limit"):
        click.echo(f"No {what} match these filters in {_shown(store)}.", err=True)
    elif what == "evaluations":
        click.echo(f"No evaluations yet at {_shown(store)} — submit some with "
                   "LLMObs.submit_evaluation().", err=True)
    else:
        click.echo(_empty_hint(store), err=True)
    return True


def _print_json_lines(rows: Any) -> None:
    for row in rows:
        click.echo(json_line(json.dumps(row, ensure_ascii=False)))


def _empty_hint(store: Path) -> str:
    return (f"No traces yet at {_shown(store)} — run your app with llmobs enabled, "
            "or `make demo`.")


def _shown(store: Path) -> str:
    """The store's path relative to the current directory when it is under it."""
    try:
        return str(store.relative_to(Path.cwd()))
    except ValueError:
        return str(store)

