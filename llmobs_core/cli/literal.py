"""Stored text as the terminal should see it: literally, never as markup, and with every
character that could steer a terminal made visible.

Span names, inputs, outputs, tags, ids and evaluation fields come from users, LLM output and
HTTP callers. A control character in them is shown as a Python-style escape (ESC as `\\x1b`,
the C1 CSI as `\\x9b`, a lone surrogate as `\\udc80`), styled apart from the text around it
on a terminal with colour. Newlines and tabs stay where a drawing keeps them (previews fold
all whitespace). Bidirectional overrides and line separators, which reorder or break what is
read, are escaped too. A backslash typed in the text is left as it is.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

ESCAPE_STYLE = "reverse"

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates and marks, line and paragraph
# separators, lone surrogates (which no encoder can write).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                     "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_WITH_WHITESPACE = re.compile(f"[\t\n{_UNSAFE.pattern[1:-1]}]")
# What JSON lines escape beyond json.dumps: everything above but the C0 controls (which
# json.dumps escapes already).
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e"
                             "\u2066-\u2069\ud800-\udfff]")


def escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(value: Any, keep_whitespace: bool = True) -> str:
    """`value` as text, with every unsafe character escaped (newlines and tabs too unless
    `keep_whitespace`)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    pattern = _UNSAFE if keep_whitespace else _UNSAFE_WITH_WHITESPACE
    return pattern.sub(lambda match: escape(match[0]), text)


def literal(value: Any, style: str = "", keep_whitespace: bool = False) -> Text:
    """A rich Text of `value`: never parsed as markup or emoji codes, escapes styled apart."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    pattern = _UNSAFE if keep_whitespace else _UNSAFE_WITH_WHITESPACE
    drawn = Text(style=style)
    position = 0
    for match in pattern.finditer(text):
        drawn.append(text[position:match.start()])
        drawn.append(escape(match[0]), ESCAPE_STYLE)
        position = match.end()
    drawn.append(text[position:])
    return drawn


def json_line(text: str) -> str:
    """A line of JSON (from json.dumps with ensure_ascii=False) made safe to print: lone
    surrogates, C1 controls and bidi controls as JSON escapes, so it decodes to what was
    stored and writes to any UTF-8 stream."""
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match[0]):04x}", text)
