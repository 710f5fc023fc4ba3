"""The Jinja2 environment: autoescaping always on, a strict undefined, and the few filters the
templates need. Data reaches the page only as escaped text, or as JSON in a data block."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from ..literal import escape
from . import present

HERE = Path(__file__).parent
STATIC = HERE / "static"

# Characters a page would hide or use to reorder what is read: C0 and C1 controls (but tab
# and line breaks), DEL, bidi marks, embeddings, overrides and isolates. They show as escapes
# (ESC as \x1b, RLO as \u202e), as `llmobs show` prints them; viewer.js does the same.
_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f"
                     "\u202a-\u202e\u2066-\u2069]")


def visible(value: Any) -> Any:
    """Every value a template writes (Jinja's finalize): text with its hidden characters
    escaped; markup the templates made themselves (JSON data blocks) as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _HIDDEN.sub(lambda match: escape(match[0]), value)
    return value


ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                         finalize=visible)
ENV.filters.update(q=lambda value: quote(str(value), safe=""), duration=present.duration,
                   local_time=present.local_time, io_summary=present.io_summary,
                   evaluation=present.evaluation)


def json_for_script(value: Any) -> str:
    """JSON for a <script type="application/json"> block: nothing in it can end the element
    or be read as markup, in HTML or in a JavaScript string."""
    dumped = json.dumps(value, ensure_ascii=True, default=str)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        dumped = dumped.replace(char, escaped)
    return dumped


ENV.filters["json_for_script"] = lambda value: Markup(json_for_script(value))


def render(name: str, **context: Any) -> str:
    return present.no_surrogates(ENV.get_template(name).render(**context))
