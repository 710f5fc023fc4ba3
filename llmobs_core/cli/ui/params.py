"""The list pages' query string: every filter lives in the URL, so a view can be bookmarked."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from ...store.pages import KINDS, Filters

RANGES = {"15m": 900, "1h": 3600, "1d": 86_400, "7d": 604_800}
FIELDS = ("view", "ml_app", "service", "session", "status", "kind", "model", "q", "range",
          "from", "to")


@dataclass(frozen=True)
class ListQuery:
    view: str  # "traces" or "spans"
    filters: Filters
    values: tuple[tuple[str, str], ...]  # the query string as given, without the cursor
    before: str | None
    problems: tuple[str, ...] = ()

    def value(self, name: str) -> str:
        return next((value for key, value in self.values if key == name), "")

    @property
    def tags(self) -> list[str]:
        return [value for key, value in self.values if key == "tag"]

    def url(self, **changes: str | None) -> str:
        """This view's URL with some parameters changed (None removes one)."""
        values = [(key, value) for key, value in self.values if key not in changes]
        values += [(key, value) for key, value in changes.items() if value]
        return "?" + urlencode(values) if values else "?"


def parse(params: QueryParams) -> ListQuery:
    values = tuple((key, value.strip()) for key, value in params.multi_items()
                   if value.strip() and (key in FIELDS or key == "tag"))
    get = dict(values).get
    problems: list[str] = []
    since_ns, until_ns = _time_range(get("range"), get("from"), get("to"), problems)
    status = get("status") if get("status") in ("ok", "error") else None
    kind = get("kind") if get("kind") in KINDS else None
    for name, given, used in (("status", get("status"), status), ("kind", get("kind"), kind)):
        if given and not used:
            problems.append(f"unknown {name} {given!r} ignored")
    filters = Filters(ml_app=get("ml_app"), service=get("service"), session=get("session"),
                      tags=tuple(value for key, value in values if key == "tag"),
                      status=status, kind=kind, model=get("model"), text=get("q"),
                      since_ns=since_ns, until_ns=until_ns)
    view = "spans" if get("view") == "spans" else "traces"
    return ListQuery(view, filters, values, params.get("before") or None, tuple(problems))


def _time_range(name: str | None, start: str | None, end: str | None,
                problems: list[str]) -> tuple[int | None, int | None]:
    if name in RANGES:
        return time.time_ns() - RANGES[name] * 1_000_000_000, None
    if name != "custom":
        return None, None
    return _moment(start, "from", problems), _moment(end, "to", problems)


def _moment(value: str | None, name: str, problems: list[str]) -> int | None:
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1e9)
    except ValueError:
        problems.append(f"{name}: {value!r} is not a date and time, ignored")
        return None
