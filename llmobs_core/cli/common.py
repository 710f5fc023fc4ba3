"""What the `llmobs` commands share: running a query with the store's problems said plainly,
which store is read, what to do when it is empty, and what a filter that matched nothing
might have meant."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..store import summaries
from .literal import json_line, visible

FIRST_TRACE = '''from llmobs_core import LLMObs

LLMObs.enable(ml_app="my-app")  # the local store is the default exporter
with LLMObs.workflow(name="hello"):
    LLMObs.annotate(input_data="Hi!", output_data="Hello!")
LLMObs.flush()'''

# A filter option and the stored values it is checked against.
_FILTER_KEYS = {"ml_app": "ml_app", "service": "service", "session": "session_id"}


def say_store(store: Path) -> None:
    click.echo(visible(f"Store: {store}"), err=True)


def read(store: Path, query: Callable[..., Any], **arguments: Any) -> Any:
    """The query's result; a missing store prints the getting-started hint and gives None."""
    try:
        return query(store, **arguments)
    except FileNotFoundError:
        click.echo(empty_hint(store), err=True)
        return None
    except sqlite3.DatabaseError as exc:
        click.echo(visible(f"Cannot read {store}: {exc}"), err=True)
        sys.exit(1)


def nothing_found(store: Path, rows: list[Any] | None, filters: dict[str, Any],
                  what: str) -> bool:
    """True, having said why, when there is nothing to print."""
    if rows is None:
        return True
    if rows:
        return False
    if any(value for key, value in filters.items() if key != "limit"):
        click.echo(visible(f"No {what} match these filters in {store}."), err=True)
        for line in suggestions(store, filters):
            click.echo(visible(line), err=True)
    elif what == "evaluations":
        click.echo(visible(f"No evaluations yet in {store}: submit some with "
                           "LLMObs.submit_evaluation()."), err=True)
    else:
        click.echo(empty_hint(store), err=True)
    return True


def suggestions(store: Path, filters: dict[str, Any]) -> list[str]:
    """For each ml_app, service, session or tag filter whose value is stored nowhere, the
    nearest stored values (or some of them)."""
    try:
        stored = summaries.facets(store, recent_traces=0)
    except (FileNotFoundError, sqlite3.DatabaseError):
        return []
    lines = []
    for option, key in _FILTER_KEYS.items():
        value = filters.get(option)
        if value:
            known = [name for name, _ in stored.get(key, [])]
            lines += _nearest_line(f"--{option.replace('_', '-')} {value}", value, known)
    for tag in filters.get("tags") or ():
        key, colon, value = tag.partition(":")
        keys = summaries.tag_keys(store)
        if key not in keys:
            lines += _nearest_line(f"--tag {tag}", key, keys, "tag key")
        elif colon:
            known = summaries.tag_values(store, key)
            if value not in known:
                lines += _nearest_line(f"--tag {tag}", value, known, f"value of {key}")
    return lines


def _nearest_line(given: str, value: str, known: list[str], noun: str = "value") -> list[str]:
    if value in known:
        return []
    if not known:
        return [f"  {given}: no {noun} of this kind is stored."]
    close = summaries.nearest(value, known)
    if close:
        return [f"  {given}: no such {noun}; did you mean " + ", ".join(close) + "?"]
    return [f"  {given}: no such {noun}; stored: " + ", ".join(known[:8])
            + (", …" if len(known) > 8 else "") + " (llmobs apps lists them)"]


def print_json_lines(rows: Any) -> None:
    for row in rows:
        click.echo(json_line(json.dumps(row, ensure_ascii=False, default=str)))


def empty_hint(store: Path) -> str:
    state = "holds no traces yet" if store.is_file() else "does not exist yet"
    indented = "\n".join("    " + line if line else "" for line in FIRST_TRACE.splitlines())
    return visible(f"No traces yet: {store} {state}.\n"
                   "Record a first trace with the installed package, e.g. this script:\n\n"
                   f"{indented}\n\n"
                   "Applications write to this store unless LLMOBS_LOCAL_PATH names another;"
                   " give `llmobs --path` the same file to read theirs.")
