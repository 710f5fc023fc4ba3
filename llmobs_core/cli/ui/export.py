"""One trace as a single HTML file that opens with no server: the trace page's markup with the
viewer's CSS and JavaScript inlined, allowed by a CSP meta tag naming their hashes, so no
other script or style can run. Nothing in it reaches the network."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from markupsafe import Markup

from . import present
from .templating import STATIC, render


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def render_trace_html(trace: dict[str, Any]) -> str:
    """get_trace()'s dict as a self-contained HTML document."""
    css = (STATIC / "viewer.css").read_text(encoding="utf-8")
    js = (STATIC / "viewer.js").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; script-src {_sha256(js)}; style-src {_sha256(css)};"
           " img-src data:; base-uri 'none'; form-action 'none'")
    view = present.trace_view(trace)
    selected = (view["rows"] or [{}])[0].get("span_id")
    return render("trace.html", view=view, selected=selected, standalone=True, csp=csp,
                  inline_css=Markup(css), inline_js=Markup(js), store={"path": ""})
