"""get_spans(query=...): the part of Datadog's search syntax that a local store can answer,
as a predicate over stored span events.

    term            a word or "a phrase": in the span's name, input or output (any case)
    key:value       a tag (`team:ml`, `ml_app:shop`, `session_id:s1`); `status:error|ok`
    @path:value     a field of the event by its dotted path (`@meta.span.kind:llm`,
                    `@name:chat`, `@meta.model_name:gpt-4*`, `@metrics.input_tokens:>100`,
                    `@duration:>1.5s`, `@trace_id:...`)
    values          `*` and `?` wildcards (any case); `>N`, `>=N`, `<N`, `<=N`, `[a TO b]` on
                    numbers (with a unit on @duration: ns, us, ms, s, m, h)
    combining       `a b` and `a AND b`; `a OR b`; `-a` and `NOT a`; parentheses

Anything else raises ValueError (Datadog's API answers such a query with an error too).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from .sampling_rules import glob
from .store.facts import io_text

Predicate = Callable[[dict[str, Any]], bool]
_QUOTED = r'"(?:[^"\\]|\\.)*"'
# "(", ")", a "-" before a term, a quoted phrase, or a word (key:"a quoted value" included)
_TOKEN = re.compile(rf'\s*(?:(\()|(\))|(-)(?=[^\s)])|({_QUOTED})|([^\s()"]+(?:{_QUOTED})?))')
_RANGE = re.compile(r"\[(\S+) TO (\S+)\]")
_COMPARE = re.compile(r"(>=|<=|>|<)(.+)")
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION = re.compile(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)(ns|us|ms|s|m|h)?")
_OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
MAX_QUERY = 4096
MAX_NESTING = 100  # parentheses and NOT/- around one term: the parser and the match recurse


def compile_query(query: str) -> Predicate:
    """The predicate of a query; ValueError naming what could not be read."""
    if not isinstance(query, str):
        raise TypeError("query must be a string")
    if len(query) > MAX_QUERY:
        raise ValueError(f"query longer than {MAX_QUERY} characters")
    tokens = _tokens(_ranges(query))
    if _nesting(tokens) > MAX_NESTING:
        raise ValueError(f"query nests parentheses and NOT deeper than {MAX_NESTING}")
    position, predicate = _or(tokens, 0)
    if position != len(tokens):
        raise ValueError(f"query {query!r}: unexpected {tokens[position]!r}")
    return predicate


def _nesting(tokens: list[str]) -> int:
    """At least how deep the parse goes: open parentheses plus the NOTs before a term."""
    depth = negations = deepest = 0
    for token in tokens:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token in ("-", "NOT"):
            negations += 1
        else:
            negations = 0
        deepest = max(deepest, depth + negations)
    return deepest


def _ranges(query: str) -> str:
    # "[1 TO 5]" holds spaces: joined to one token ("[1\x00TO\x005]") before splitting
    return _RANGE.sub(lambda m: f"[{m.group(1)}\x00TO\x00{m.group(2)}]", query)


def _tokens(query: str) -> list[str]:
    tokens, position = [], 0
    while position < len(query.rstrip()):
        match = _TOKEN.match(query, position)
        if match is None:
            raise ValueError(f"query {query!r}: cannot read {query[position:position + 20]!r}")
        tokens.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tokens


def _or(tokens: list[str], at: int) -> tuple[int, Predicate]:
    at, first = _and(tokens, at)
    alternatives = [first]
    while at < len(tokens) and tokens[at] == "OR":
        at, other = _and(tokens, at + 1)
        alternatives.append(other)
    if len(alternatives) == 1:
        return at, first
    return at, lambda event: any(p(event) for p in alternatives)


def _and(tokens: list[str], at: int) -> tuple[int, Predicate]:
    parts: list[Predicate] = []
    while at < len(tokens) and tokens[at] not in (")", "OR"):
        if tokens[at] == "AND" and parts:
            at += 1
        at, part = _unary(tokens, at)
        parts.append(part)
    if not parts:
        raise ValueError("query: a term is missing (before OR, ')' or at the end)")
    return at, parts[0] if len(parts) == 1 else lambda event: all(p(event) for p in parts)


def _unary(tokens: list[str], at: int) -> tuple[int, Predicate]:
    if at >= len(tokens):
        raise ValueError("query: a term is missing at the end")
    token = tokens[at]
    if token in ("-", "NOT"):
        at, inner = _unary(tokens, at + 1)
        return at, lambda event: not inner(event)
    if token == "(":
        at, inner = _or(tokens, at + 1)
        if at >= len(tokens) or tokens[at] != ")":
            raise ValueError("query: '(' without ')'")
        return at + 1, inner
    if token in (")", "AND"):
        raise ValueError(f"query: unexpected {token!r}")
    return at + 1, _term(token)


def _term(token: str) -> Predicate:
    key, colon, value = token.partition(":")
    if not colon or key.startswith('"'):
        text = _unquote(token).lower()
        return lambda event: text in _searchable(event)
    if not key or not value:
        raise ValueError(f"query: {token!r} needs a key and a value")
    matches = _value_matcher(_unquote(value.replace("\x00", " ")), key == "@duration")
    if key == "status":
        return lambda event: matches(event.get("status"))
    if key.startswith("@"):
        path = key[1:].split(".")
        return lambda event: matches(_at(event, path))
    return lambda event: any(matches(tag[len(key) + 1:]) for tag in event.get("tags") or ()
                             if type(tag) is str and tag.startswith(key + ":"))


def _value_matcher(value: str, duration: bool) -> Callable[[Any], bool]:
    number = _number if not duration else _duration
    ranged = _RANGE.fullmatch(value)
    if ranged:
        low, high = number(ranged.group(1)), number(ranged.group(2))
        return lambda found: low <= _numeric(found) <= high
    compared = _COMPARE.fullmatch(value)
    if compared:
        test, bound = _OPERATORS[compared.group(1)], number(compared.group(2))
        return lambda found: test(_numeric(found), bound)
    if duration:
        exact = _duration(value)
        return lambda found: _numeric(found) == exact
    pattern = glob(value)
    return lambda found: (found is not None and not isinstance(found, (dict, list))
                          and pattern.fullmatch(_text(found).lower()) is not None)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"query: {text!r} is not a number") from None


def _duration(text: str) -> float:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"query: {text!r} is not a duration (a number, then ns/us/ms/s/m/h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "ns"]


def _numeric(value: Any) -> float:
    """A number, or NaN (which every comparison fails) for what is not one."""
    if type(value) in (int, float):
        return float(value)
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            pass
    return math.nan


def _text(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _at(event: dict[str, Any], path: list[str]) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _searchable(event: dict[str, Any]) -> str:
    return f"{event.get('name', '')}\n{io_text(event)}".lower()
