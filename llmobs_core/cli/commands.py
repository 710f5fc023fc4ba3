"""The `llmobs` command: look at the traces in the local store (`llmobs --help`)."""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..store import queries as store_queries
from ..store import summaries
from ..store.codec import integer
from ..store.location import resolve_store_path
from ..store.reading import open_read_only
from ..store.settle import dropped_when_settled
from ..store.settle import settle as settle_inbox
from . import draw
from .common import empty_hint, nothing_found, print_json_lines, read, say_store
from .literal import literal, visible
from .serve import ui
from .show import show

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
              help="The trace store [default: LLMOBS_LOCAL_PATH, else llmobs/traces.db in "
                   "your data folder].")
@click.pass_context
def main(ctx: click.Context, path: str | None) -> None:
    """Look at the LLM traces your applications recorded in the local store."""
    ctx.obj = resolve_store_path(path)
    if ctx.invoked_subcommand is not None:
        say_store(ctx.obj)


@main.command()
@_filter_options
@click.pass_obj
def traces(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent traces, newest first."""
    rows = read(store, store_queries.list_traces, **filters)
    if nothing_found(store, rows, filters, "traces"):
        return
    if as_json:
        print_json_lines(rows)
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
    rows = read(store, store_queries.list_spans, **filters)
    if nothing_found(store, rows, filters, "spans"):
        return
    if as_json:
        print_json_lines(row["event"] for row in rows)
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
@click.option("--label", help="Only this evaluation label.")
@click.option("--ml-app", help="Only this ml_app.")
@_listing_options
@click.pass_obj
def evals(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent evaluations, newest first."""
    rows = read(store, store_queries.list_evals, **filters)
    if nothing_found(store, rows, filters, "evaluations"):
        return
    if as_json:
        print_json_lines(rows)
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


@main.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many values of each, most traces first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per value.")
@click.pass_obj
def apps(store: Path, limit: int, as_json: bool) -> None:
    """The ml_apps, services, sessions, envs and models in the store, with trace counts."""
    found = read(store, summaries.facets)
    if found is None or nothing_found(store, [1] if any(found.values()) else [], {}, "traces"):
        return
    if as_json:
        print_json_lines({"key": key, "value": value, "traces": count}
                         for key, values in found.items() for value, count in values[:limit])
        return
    for key, title in (("ml_app", "ML apps"), ("service", "Services"),
                       ("session_id", "Sessions"), ("env", "Envs"),
                       ("model", "Models")):
        values = found.get(key) or []
        table = draw.table(title, "Traces")
        for value, count in values[:limit]:
            table.add_row(literal(value), str(count))
        if len(values) > limit:
            table.add_row(f"… {len(values) - limit} more", "")
        if values:
            draw.console().print(table)
            draw.console().print()


@main.command()
@click.pass_obj
def settle(store: Path) -> None:
    """Store the spans waiting in the store's inbox as traces, as every read does first: for
    SQL of your own on the store's tables and its `spans` view."""
    if not store.is_file():
        click.echo(empty_hint(store), err=True)
        return
    try:
        settled = settle_inbox(store)
        conn, _ = open_read_only(store)
        try:
            dropped = dropped_when_settled(conn)
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        click.echo(visible(f"Cannot settle {store}: {exc}"), err=True)
        sys.exit(1)
    click.echo(f"{settled:,} span{'' if settled == 1 else 's'} settled")
    if dropped:
        click.echo(f"dropped when settled, since the store was made: {dropped:,} (span "
                   "records that could not be stored as events; each was logged then)")


main.add_command(show)
main.add_command(ui)
