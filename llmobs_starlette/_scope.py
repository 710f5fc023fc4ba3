"""Reading an ASGI scope: the trace headers, one header by name, the matched route template."""

from __future__ import annotations

from typing import Any, Final

from llmobs_core._adapter import HEADERS

_TRACE_HEADERS: Final = {name.encode("latin-1"): name for name in HEADERS}


def trace_headers(scope: dict[str, Any]) -> dict[str, bytes] | None:
    """The propagation headers of a request, the first of each name; None when it has none."""
    found: dict[str, bytes] | None = None
    for header in scope.get("headers") or ():
        # Servers give (name, value) tuples: read by index, a third of the cost of unpacking
        # an object of unknown type; anything else is unpacked, which rejects a wrong length.
        if isinstance(header, tuple) and len(header) == 2:
            name, value = header[0], header[1]
        else:
            name, value = header
        # ASGI servers lowercase header names (as Starlette assumes). `in` and not .get(): most
        # headers are not ours, and skipping the call makes 10 headers 17% cheaper to scan.
        if name in _TRACE_HEADERS:
            key = _TRACE_HEADERS[name]
            if found is None:
                found = {key: value}
            elif key not in found:
                found[key] = value
    return found


def request_header(scope: dict[str, Any], name: str) -> str | None:
    """The first value of header `name` (any letter case) in an http or websocket scope,
    decoded as latin-1 as HTTP/1.1 requires; None when absent. A helper for the `ml_app=` and
    `session_id=` callables."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers") or ():
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


def route_template(scope: dict[str, Any], root_path_at_entry: str) -> str | None:
    """The template of the route the router matched ("/items/{item_id}"), with the paths of
    the mounts it went through; None when the app exposes no route. Starlette and FastAPI put
    the matched route object in scope["route"] during routing, inside the app."""
    route = scope.get("route")
    if route is None:
        return None
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return None
    root_path = scope.get("root_path", "")
    mounted = ""
    if root_path == root_path_at_entry:  # no mount on the way; startswith() costs more
        pass
    elif isinstance(root_path, str) and root_path.startswith(root_path_at_entry):
        mounted = root_path[len(root_path_at_entry):]
    if template.endswith("/{path}") and hasattr(route, "routes"):
        # A mount was the last thing routed (static files, a sub-application): its matched
        # path is already in root_path.
        return mounted + "/{path}"
    return mounted + template
