"""`llmobs show`: one trace, as a tree in the terminal, as JSON lines, or as one HTML file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..store import queries as store_queries
from . import draw
from .common import print_json_lines, read
from .literal import visible


@click.command()
@click.argument("trace_id")
@click.option("--json", "as_json", is_flag=True, help="Each span event, one per line.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              metavar="FILE",
              help="Write the trace as one self-contained HTML file (needs the ui extra).")
@click.pass_obj
def show(store: Path, trace_id: str, as_json: bool, html_file: str | None) -> None:
    """The span tree of one trace: TRACE_ID, a unique prefix of it, or its low 64 bits (16 hex
    digits, or the decimal number Datadog shows)."""
    matches = read(store, store_queries.match_trace_ids, prefix=trace_id)
    if matches is None:
        sys.exit(1)
    if len(matches) != 1:
        problem = "matches several traces: " + ", ".join(matches) if matches else "is not stored"
        click.echo(visible(f"Trace {trace_id} {problem} in {store}."), err=True)
        sys.exit(1)
    trace = read(store, store_queries.get_trace, trace_id=matches[0])
    if trace is None:  # pruned since it was matched
        click.echo(visible(f"Trace {matches[0]} is not stored in {store}."), err=True)
        sys.exit(1)
    if html_file:
        _write_html(trace, Path(html_file))
    elif as_json:
        print_json_lines(trace["spans"])
    else:
        draw.console().print(draw.trace_tree(trace))


def _write_html(trace: dict, target: Path) -> None:
    try:
        from .ui.export import render_trace_html
    except ImportError as exc:
        click.echo(f"--html needs the ui extra ({exc.name} is missing): "
                   'pip install "llmobs[ui]"', err=True)
        sys.exit(2)
    target.write_text(render_trace_html(trace), encoding="utf-8")
    click.echo(visible(f"Wrote trace {trace['trace_id']} to {target.absolute()}: open it in a "
                       "browser, no server needed."), err=True)
