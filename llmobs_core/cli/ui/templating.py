"""The Jinja2 environment: autoescaping always on, a strict undefined, and the few filters the
templates need. Data reaches the page only as escaped text, or as JSON in a data block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from . import present

HERE = Path(__file__).parent
STATIC = HERE / "static"

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
ENV.filters.update(q=lambda value: quote(str(value), safe=""), duration=present.duration,
                   local_time=present.local_time, io_summary=present.io_summary,
                   evaluation=present.evaluation)


def json_for_script(value: Any) -> str:
    """JSON for a <script type="application/json"> block: nothing in it can end the element
    or be read as markup, in HTML or in a JavaScript string."""
    dumped = json.dumps(value, ensure_ascii=True, default=str)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        dumped = dumped.replace(char, escape)
    return dumped


ENV.filters["json_for_script"] = lambda value: Markup(
    json_for_script(value))


def render(name: str, **context: Any) -> str:
    return present.no_surrogates(ENV.get_template(name).render(**context))
