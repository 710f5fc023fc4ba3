"""The `llmobs` command: look at the traces in the local store (`llmobs --help`)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from . import store_queries
from ._store_schema import resolve_store_path

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PREVIEW_CHARS = 70
_PIPED_WIDTH = 240


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
    for option in reversed(options):
        command = option(command)
    return _listing_options(command)


def _listing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--json", "as_json", is_flag=True,
                           help="One JSON object per line.")(command)
    return click.option("--limit", type=click.IntRange(min=1), default=20,
                        show_default=True)(command)


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
    if not _report_empty(store, rows, filters, "traces"):
        if as_json:
            _print_json_lines(rows)
            return
        table = _table("Start", "Trace ID", "ML app", "Root span", "Kind", "Spans", "Duration",
                       "Status", "Session")
        for row in rows:
            table.add_row(_local_time(row["start_ns"]), row["trace_id"], row["ml_app"],
                          row["root_name"], row["root_kind"], str(row["span_count"]),
                          _duration(row["duration"]), _status(row["status"]),
                          row["session_id"] or "")
        _console().print(table)


@main.command()
@_filter_options
@click.pass_obj
def spans(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent spans, newest first; --json prints each whole span event."""
    rows = _read(store, store_queries.list_spans, **filters)
    if not _report_empty(store, rows, filters, "spans"):
        if as_json:
            _print_json_lines(row["event"] for row in rows)
            return
        table = _table("Start", "Trace ID", "Span ID", "Kind", "Name", "ML app", "Service",
                       "Duration", "Status")
        for row in rows:
            table.add_row(_local_time(row["start_ns"]), row["trace_id"], row["span_id"],
                          row["kind"], row["name"], row["ml_app"], row["service"] or "",
                          _duration(row["duration"]), _status(row["status"]))
        _console().print(table)


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
        click.echo(f"Trace {trace_id} {problem} in {_shown(store)}.", err=True)
        sys.exit(1)
    trace = _read(store, store_queries.get_trace, trace_id=matches[0])
    if as_json:
        _print_json_lines(trace["spans"])
    else:
        _console().print(_trace_tree(trace))


@main.command()
@click.option("--label", help="Only this evaluation label.")
@click.option("--ml-app", help="Only this ml_app.")
@_listing_options
@click.pass_obj
def evals(store: Path, as_json: bool, **filters: Any) -> None:
    """Recent evaluations, newest first."""
    rows = _read(store, store_queries.list_evals, **filters)
    if not _report_empty(store, rows, filters, "evaluations"):
        if as_json:
            _print_json_lines(rows)
            return
        table = _table("Time", "Label", "Value", "ML app", "Trace ID", "Span ID", "Assessment",
                       "Reasoning")
        for metric in rows:
            table.add_row(_local_time(metric.get("timestamp_ms", 0) * 1_000_000),
                          metric.get("label"), _metric_value(metric), metric.get("ml_app"),
                          *_join_target(metric), metric.get("assessment") or "",
                          _short(metric.get("reasoning")))
        _console().print(table)


# -- reading ----------------------------------------------------------------------------------

def _read(store: Path, query: Callable[..., Any], **arguments: Any) -> Any:
    """The query's result; a missing store prints the getting-started hint and gives None."""
    try:
        return query(store, **arguments)
    except FileNotFoundError:
        click.echo(_empty_hint(store), err=True)
        return None
    except sqlite3.DatabaseError as exc:
        click.echo(f"Cannot read {_shown(store)}: {exc}", err=True)
        sys.exit(1)


def _report_empty(store: Path, rows: list[Any] | None, filters: dict[str, Any], what: str) -> bool:
    if rows is None:
        return True
    if rows:
        return False
    if any(value for key, value in filters.items() if key != "limit"):
        click.echo(f"No {what} match these filters in {_shown(store)}.", err=True)
    else:
        click.echo(_empty_hint(store), err=True)
    return True


def _empty_hint(store: Path) -> str:
    return (f"No traces yet at {_shown(store)} — run your app with llmobs enabled, "
            "or `make demo`.")


def _shown(store: Path) -> str:
    """The store's path relative to the current directory when it is under it."""
    try:
        return str(store.relative_to(Path.cwd()))
    except ValueError:
        return str(store)


# -- drawing ----------------------------------------------------------------------------------

def _console() -> Console:
    # Piped output is for reading in full or for grep: no folding at a guessed 80 columns.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=_PIPED_WIDTH if piped else None)


def _table(*columns: str) -> Table:
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ellipsis",
                         min_width=len(column) if column != "Trace ID" else 32)
    return table


def _print_json_lines(rows: Any) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))


def _trace_tree(trace: dict[str, Any]) -> Tree:
    spans = trace["spans"]
    ids = {span["span_id"] for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in spans:
        if span.get("parent_id") in ids:
            children.setdefault(span["parent_id"], []).append(span)
        else:
            roots.append(span)
    evaluations = store_queries.evaluations_by_span(trace)
    tree = Tree(Text.assemble(("Trace ", "bold"), (trace["trace_id"], "bold cyan"),
                              f"  {len(spans)} spans"))

    def add(parent: Tree, span: dict[str, Any]) -> None:
        node = parent.add(_span_label(span))
        for metric in evaluations.get(span["span_id"], []):
            node.add(_evaluation_label(metric))
        for child in children.get(span["span_id"], []):
            add(node, child)

    for root in roots:
        add(tree, root)
    return tree


def _span_label(span: dict[str, Any]) -> Text:
    meta = span.get("meta") or {}
    failed = span.get("status") == "error"
    label = Text.assemble(
        (f"{(meta.get('span') or {}).get('kind', '?')} ", "magenta"),
        (span.get("name") or "?", "bold red" if failed else "bold"),
        f"  {_duration(span.get('duration'))}  ", _status(span.get("status")),
        (f"  {_tag(span, 'ml_app')}", "dim"),
    )
    for prefix, data in (("in", meta.get("input")), ("out", meta.get("output"))):
        if preview := _io_preview(data):
            label.append(f"\n{prefix}: ", "dim").append(preview)
    if error := meta.get("error"):
        message = f"{error.get('type') or 'error'}: {error.get('message') or ''}".rstrip(": ")
        label.append(f"\n{message}", "bold red")
    return label


def _evaluation_label(metric: dict[str, Any]) -> Text:
    label = Text.assemble(("eval ", "yellow"), (str(metric.get("label")), "bold yellow"),
                          f" = {_metric_value(metric)}")
    if assessment := metric.get("assessment"):
        label.append(f"  {assessment}", "green" if assessment == "pass" else "red")
    if reasoning := metric.get("reasoning"):
        label.append(f"  {_short(reasoning)}", "dim")
    return label


def _io_preview(data: Any) -> str:
    if not data:
        return ""
    if isinstance(data, dict) and data.get("messages"):
        last = data["messages"][-1]
        return _short(f"{last.get('role', '')}: {last.get('content', '')}")
    if isinstance(data, dict) and data.get("documents"):
        documents = data["documents"]
        return _short(f"{len(documents)} documents: {documents[0].get('text', '')}")
    if isinstance(data, dict) and "value" in data:
        return _short(data["value"])
    return _short(json.dumps(data, ensure_ascii=False))


def _short(value: Any) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS - 1] + "…"


def _metric_value(metric: dict[str, Any]) -> str:
    value = metric.get(f"{metric.get('metric_type')}_value")
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


def _join_target(metric: dict[str, Any]) -> tuple[str, str]:
    """(trace id, span id) for a metric joined to a span; ("tag key:value", "") for a tag."""
    join_on = metric.get("join_on") or {}
    if span := join_on.get("span"):
        return str(span.get("trace_id")), str(span.get("span_id"))
    tag = join_on.get("tag") or {}
    return f"tag {tag.get('key')}:{tag.get('value')}", ""


def _tag(span: dict[str, Any], key: str) -> str:
    prefix = f"{key}:"
    tags = [tag for tag in span.get("tags") or () if isinstance(tag, str)]
    return next((tag[len(prefix):] for tag in tags if tag.startswith(prefix)), "")


def _status(status: str | None) -> Text:
    return Text(status or "?", "bold red" if status == "error" else "green")


def _duration(ns: int | None) -> str:
    if ns is None:
        return "?"
    if ns < 1_000_000:
        return f"{ns / 1000:.0f}µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f}ms"
    if ns < 60 * 1_000_000_000:
        return f"{ns / 1e9:.2f}s"
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    return f"{minutes}m{seconds:02d}s"


def _local_time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":
    main()
