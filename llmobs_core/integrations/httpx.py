"""Trace context on outgoing httpx requests, sync and async.

``instrument()`` covers every client built after it (``httpx.get()`` and friends included);
``instrument_client(client)`` covers one client, whenever it was built. A request sent while a
span (or an activated remote context) is active carries the Datadog, W3C and baggage headers of
``propagation.inject_into``, which also applies the ml-proxy:custom rule to the request's URL.
``propagate_to`` (hosts, ``host:port`` or URL prefixes) limits where the headers go; by default
every destination gets them, and with them the ml_app and the session id.

Why request event hooks: httpx runs a client's request hooks for every request it sends, each
redirect hop included, on the caller's thread or task (so the active span is the one the request
is made under) and after the URL is final. ``Client.event_hooks`` is public and behaves the same
whatever the transport, mounts or proxies. A wrapping transport could only be slid under an
existing client through its private ``_transport`` and ``_mounts``, and would need one wrapper
per mount. Hooks are set per client, so ``instrument()`` wraps ``Client.__init__`` and
``AsyncClient.__init__`` to append one after the client is built; ``Client.send`` is untouched.

A redirect to a destination outside ``propagate_to`` has the headers this module wrote removed
(httpx copies a request's headers onto the redirect). Headers of other vendors in ``tracestate``
and the application's own ``baggage`` members are kept; our members replace earlier ones. The
writer thread's own requests (a sink's HTTP) never carry trace headers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx

from .._adapter import HEADERS, active_tracer, capture_faults, inject_into

__all__ = ["instrument", "instrument_client", "uninstrument", "uninstrument_client"]

ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)

_WRITER_THREAD = "llmobs-writer"  # the name export/writer.py gives its thread
_INJECTED = "llmobs.injected"  # request extension: what was written, and what it replaced
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LIST_LIMITS = {"tracestate": 512, "baggage": 8192}
_OUR_BAGGAGE_KEYS = frozenset(("ml_app", "session.id"))
_HEADER_NAMES = frozenset(HEADERS)


class _Destinations:
    """The hosts, host:port pairs and URL prefixes that may receive trace headers."""

    __slots__ = ("hosts", "prefixes")

    def __init__(self, entries: Iterable[str]) -> None:
        self.hosts: set[str] = set()
        self.prefixes: list[tuple[str, str, int | None, str]] = []
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip():
                raise TypeError(f"propagate_to entries must be non-empty strings, not {entry!r}")
            entry = entry.strip().lower()
            if "://" in entry:
                url = httpx.URL(entry)
                self.prefixes.append((url.scheme, url.host, _port(url), url.path.rstrip("/")))
            else:
                self.hosts.add(entry)

    def allow(self, url: httpx.URL) -> bool:
        host, port = url.host, _port(url)
        if host in self.hosts or f"{host}:{port}" in self.hosts:
            return True
        path = url.path
        return any(
            (scheme, prefix_host, prefix_port) == (url.scheme, host, port)
            and (path == prefix_path or path.startswith(prefix_path + "/"))
            for scheme, prefix_host, prefix_port, prefix_path in self.prefixes
        )


def _port(url: httpx.URL) -> int | None:
    return url.port or _DEFAULT_PORTS.get(url.scheme)


def _destinations(propagate_to: Iterable[str] | None) -> _Destinations | None:
    if propagate_to is None:
        return None
    if isinstance(propagate_to, (str, bytes)):
        raise TypeError("propagate_to must be a list of hosts or URL prefixes, not one string")
    return _Destinations(propagate_to)


class _Policy:
    """Whether a hook injects, and where to. instrument() mutates the shared one in place, so
    clients built under an earlier instrument() follow the latest call."""

    __slots__ = ("enabled", "destinations")

    def __init__(self, enabled: bool, destinations: _Destinations | None) -> None:
        self.enabled = enabled
        self.destinations = destinations


_global_policy = _Policy(enabled=False, destinations=None)
_wrappers: dict[type, Callable[..., None]] = {}


class _RequestHook:
    __slots__ = ("policy",)

    def __init__(self, policy: _Policy) -> None:
        self.policy = policy

    def __call__(self, request: httpx.Request) -> None:
        _inject(request, self.policy)


class _AsyncRequestHook(_RequestHook):
    __slots__ = ()

    async def __call__(self, request: httpx.Request) -> None:  # type: ignore[override]
        _inject(request, self.policy)


# -- public API ----------------------------------------------------------------------------------


def instrument(propagate_to: Iterable[str] | None = None) -> None:
    """Make every httpx client built from now on send the active span's context. Calling it
    again changes `propagate_to` for those clients too; a bad `propagate_to` raises."""
    destinations = _destinations(propagate_to)
    _global_policy.destinations = destinations
    _global_policy.enabled = True
    for cls, hook_type in ((httpx.Client, _RequestHook), (httpx.AsyncClient, _AsyncRequestHook)):
        if not _reaches(cls.__init__, _wrappers.get(cls)):
            _wrappers[cls] = cls.__init__ = _hooking_init(cls.__init__, hook_type)  # type: ignore


def uninstrument() -> None:
    """Undo instrument(): no client it covered sends trace headers any more, and the clients'
    constructors are restored. Clients set up with instrument_client() keep theirs."""
    _global_policy.enabled = False
    for cls, wrapper in list(_wrappers.items()):
        if cls.__dict__.get("__init__") is wrapper:
            setattr(cls, "__init__", wrapper.__wrapped__)  # noqa: B010 (mypy: no __init__ writes)
            del _wrappers[cls]
        # else a later wrapper sits on ours: ours stays in place, inert while disabled.


def instrument_client(client: ClientT, propagate_to: Iterable[str] | None = None) -> ClientT:
    """Make this one client send the active span's context, with its own `propagate_to`
    (replacing any earlier setting for it, or instrument()'s). Returns the client."""
    hook_type = _hook_type(client)
    hook = hook_type(_Policy(enabled=True, destinations=_destinations(propagate_to)))
    _set_hook(client, hook)
    return client


def uninstrument_client(client: ClientT) -> ClientT:
    """Stop this client from sending trace headers. Returns the client."""
    _hook_type(client)
    _set_hook(client, None)
    return client


# -- internals -----------------------------------------------------------------------------------


def _hook_type(client: Any) -> type[_RequestHook]:
    if isinstance(client, httpx.AsyncClient):
        return _AsyncRequestHook
    if isinstance(client, httpx.Client):
        return _RequestHook
    raise TypeError(f"expected an httpx.Client or httpx.AsyncClient, not {type(client).__name__}")


def _set_hook(client: httpx.Client | httpx.AsyncClient, hook: _RequestHook | None) -> None:
    """Replace this module's hook on the client (there is at most one) with `hook`."""
    hooks = client.event_hooks
    request_hooks = [h for h in hooks["request"] if not isinstance(h, _RequestHook)]
    if hook is not None:
        request_hooks.append(hook)
    client.event_hooks = {**hooks, "request": request_hooks}


def _reaches(init: Any, wrapper: Callable[..., None] | None) -> bool:
    """Whether `wrapper` is `init` or is reached through the `__wrapped__` chain under it."""
    for _ in range(100):
        if wrapper is None or init is None:
            return False
        if init is wrapper:
            return True
        init = getattr(init, "__wrapped__", None)
    return False


def _hooking_init(original: Callable[..., None], hook_type: type[_RequestHook]):
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not _global_policy.enabled:
            return
        with capture_faults("httpx.init"):  # the client must still be built
            if not any(isinstance(h, _RequestHook) for h in self.event_hooks["request"]):
                _set_hook(self, hook_type(_global_policy))

    return __init__


def _inject(request: httpx.Request, policy: _Policy) -> None:
    if not policy.enabled or active_tracer() is None:
        return
    if threading.current_thread().name == _WRITER_THREAD:
        return
    with capture_faults("httpx.inject"):  # the request must still go out
        destinations = policy.destinations
        if destinations is not None and not destinations.allow(request.url):
            _remove_injected(request)
            return
        written: dict[str, str] = {}
        if inject_into(written.__setitem__, url=str(request.url)):
            _write(request, written)


def _write(request: httpx.Request, ours: dict[str, str]) -> None:
    """Set our headers, replacing every earlier propagation header in any letter case; keep
    the foreign members of tracestate and baggage after ours."""
    headers = request.headers
    present = _HEADER_NAMES.intersection(headers.keys())  # keys() are lowercase
    record: dict[str, tuple[str, str | None]] = {}
    for name in HEADERS:
        foreign = _foreign_members(name, headers.get(name)) if name in present else None
        value = _join(name, ours.get(name), foreign)
        if value is None:
            if name in present:
                del headers[name]
            continue
        headers[name] = value
        if name in ours:
            record[name] = (value, foreign)
    request.extensions[_INJECTED] = record


def _remove_injected(request: httpx.Request) -> None:
    """On a hop to a destination outside propagate_to, take back what an earlier hop wrote."""
    record = request.extensions.pop(_INJECTED, None)
    if not record:
        return
    headers = request.headers
    for name, (written, foreign) in record.items():
        if headers.get(name) == written:
            if foreign:
                headers[name] = foreign
            else:
                del headers[name]


def _foreign_members(name: str, existing: str | None) -> str | None:
    if not existing or name not in _LIST_LIMITS:
        return None
    owned = _is_our_tracestate_member if name == "tracestate" else _is_our_baggage_member
    kept = [m.strip() for m in existing.split(",") if m.strip() and not owned(m)]
    return ",".join(kept) or None


def _join(name: str, ours: str | None, foreign: str | None) -> str | None:
    if ours is None or foreign is None:
        return ours or foreign
    joined = f"{ours},{foreign}"
    return joined if len(joined) <= _LIST_LIMITS[name] else ours


def _is_our_tracestate_member(member: str) -> bool:
    return member.partition("=")[0].strip() == "dd"


def _is_our_baggage_member(member: str) -> bool:
    return unquote(member.partition("=")[0].strip()) in _OUR_BAGGAGE_KEYS
