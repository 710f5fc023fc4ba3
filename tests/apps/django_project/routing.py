"""The LLMOBS hooks of the test project: an ml_app per tenant path, the session from a header
or a cookie."""

from __future__ import annotations

from django.http import HttpRequest


def ml_app_for(request: HttpRequest) -> str | None:
    """/apps/<name>/... is recorded under ml_app "app-<name>"; other paths are not routed."""
    path = request.path_info
    if path.startswith("/apps/"):
        return "app-" + path.split("/")[2]
    return None


def session_for(request: HttpRequest) -> str | None:
    return request.headers.get("X-Session-Id") or request.COOKIES.get("sid")


async def async_session_for(request: HttpRequest) -> str | None:
    return "async-" + (request.headers.get("X-Session-Id") or "none")


def failing_session_for(request: HttpRequest) -> str | None:
    raise RuntimeError("session store down")
