"""The viewer's one middleware: GET and HEAD only, the Host header must name the address the
server is bound to (DNS rebinding), and every response carries a strict CSP and friends."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
       " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_WILDCARD = {"0.0.0.0", "::"}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class ViewerGuard:
    """`allowed_hosts`: Host header values to accept; None accepts only the socket's own
    address (scope["server"], and "localhost" when that is a loopback address)."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # nothing here speaks websocket
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"read-only viewer: GET and HEAD only",
                         [(b"allow", b"GET, HEAD")])
            return
        if not self._host_ok(scope):
            await _plain(send, 421, b"this viewer answers only to the address it is bound to")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _host_ok(self, scope: Scope) -> bool:
        hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
        if len(hosts) != 1:
            return False
        host = hosts[0].lower()
        if self.allowed_hosts is not None:
            return host in self.allowed_hosts
        server = scope.get("server")
        if not server:
            return False
        address, port = server[0], server[1]
        if address in _WILDCARD:  # any of the machine's addresses, but never a DNS name
            name, _, given_port = host.rpartition(":")
            return given_port == str(port) and (name == "localhost" or _is_ip(name))
        names = {address, f"[{address}]"} | (_LOOPBACK if address in _LOOPBACK else set())
        return host in {f"{name}:{port}" for name in names} | (names if port == 80 else set())


async def _plain(send: Any, status: int, body: bytes,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS, *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
