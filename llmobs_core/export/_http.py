"""Stdlib HTTP for the remote sinks: one keep-alive connection per origin, and POST with
jittered exponential backoff. Runs on the writer thread only; `stop` ends waits early. With a
Secret, every string made from the other side's answer (reason phrase, body excerpt, protocol
errors) is masked before it leaves."""

from __future__ import annotations

import http.client
import os
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urlsplit

from ._secret import Secret

RETRYABLE_STATUSES = frozenset((408, 429))
_EXCERPT = 200  # characters of a reason phrase or body that may be logged


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    retry_after: float | None
    body_excerpt: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES or self.status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first try. A Retry-After answer is waited out, up to
    `max_retry_after` seconds; other waits grow from `base_delay`, doubling, up to `max_delay`,
    with jitter so that many processes do not come back in step."""

    attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def backoff(self, retry: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** retry))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class DeliveryError(Exception):
    """A request that could not be delivered; the message never holds headers or keys."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix domain socket, for a Datadog Agent at unix:///var/run/datadog/apm.socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class Origin:
    """A keep-alive connection to one scheme://host:port (or unix socket), reopened as needed.
    Everything it needs is made here, not at the first request: that may come during the exit
    drain, when the interpreter is shutting down. `tls` replaces the system's trusted
    certificates (a custom CA, a client certificate)."""

    def __init__(self, url: str, timeout: float, secret: Secret | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "unix"):
            raise ValueError(f"{url!r} is not an http://, https:// or unix:// URL")
        self.scheme = parts.scheme
        self.base_path = "" if parts.scheme == "unix" else parts.path.rstrip("/")
        self._netloc = parts.netloc
        self._socket_path = parts.path
        self.timeout = timeout
        self.not_before = 0.0  # monotonic time before which the intake asked not to be called
        self._connection: http.client.HTTPConnection | None = None
        self._closed = False
        self._pid = os.getpid()
        self._tls = tls or (_tls_context() if parts.scheme == "https" else None)
        self._secret = secret

    def __repr__(self) -> str:
        where = self._socket_path if self.scheme == "unix" else self._netloc
        return f"{self.scheme}://{where}{self.base_path}"

    def masked(self, text: str) -> str:
        return text if self._secret is None else self._secret.mask(text)

    def _connect(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self.scheme == "unix":
            connection = _UnixHTTPConnection(self._socket_path, self.timeout)
        elif self.scheme == "https":
            connection = http.client.HTTPSConnection(self._netloc, timeout=self.timeout,
                                                     context=self._tls)
        else:
            connection = http.client.HTTPConnection(self._netloc, timeout=self.timeout)
        # HTTPConnection.debuglevel = 1, set to debug some other client, would print our
        # request headers, API key included, to stdout.
        connection.set_debuglevel(0)
        return connection

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """One POST. Network faults raise OSError or http.client.HTTPException, and the
        connection is dropped so the next call opens a new one."""
        if self._pid != os.getpid():
            # A forked child: the kept connection is the parent's (closing our copy of the
            # socket leaves the parent's open).
            self._pid = os.getpid()
            self.close()
            self._closed = False
        connection = self._connection or self._connect()
        self._connection = None
        try:
            connection.request("POST", self.base_path + path, body, headers)
            raw = connection.getresponse()
            answer = raw.read()
        except BaseException:
            connection.close()
            raise
        retry_after = _retry_after(raw.getheader("Retry-After"))
        response = Response(raw.status, self._excerpt(raw.reason or ""), retry_after,
                            self._excerpt(answer.decode("utf-8", "replace")))
        if raw.will_close or self._closed:  # closed meanwhile by shutdown() on another thread
            connection.close()
        else:
            self._connection = connection
        return response

    def _excerpt(self, text: str) -> str:
        secret = self._secret
        return text[:_EXCERPT] if secret is None else secret.excerpt(text, _EXCERPT)

    def close(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, OverflowError):
        return None


def post_with_retries(origin: Origin, path: str, body: bytes, headers: dict[str, str],
                      policy: RetryPolicy, stop: threading.Event) -> tuple[Response, int]:
    """POST until a final answer: 2xx, or a status that retrying cannot fix. Returns the
    response and how many retries it took; raises DeliveryError when the attempts run out, when
    the intake asked for a longer pause than the policy allows (nothing is sent before the pause
    it asked for is over), or when `stop` is set."""
    problem = "no attempt was made"
    for attempt in range(policy.attempts):
        pause = origin.not_before - time.monotonic()
        if pause > policy.max_retry_after:
            raise DeliveryError(f"{origin} asked for a pause of {pause:.0f} s (Retry-After)")
        if stop.wait(pause) if pause > 0 else stop.is_set():
            raise DeliveryError(f"the sink is shut down ({problem})")
        try:
            response = origin.post(path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            problem = origin.masked(f"{type(exc).__name__}: {exc}" if str(exc)
                                    else type(exc).__name__)
            retry_after = None
        else:
            if not response.retryable:
                return response, attempt
            problem = f"HTTP {response.status} {response.reason}".rstrip()
            retry_after = response.retry_after
        if retry_after is not None:
            origin.not_before = time.monotonic() + retry_after
        if attempt + 1 == policy.attempts:
            break
        if retry_after is None and stop.wait(policy.backoff(attempt)):
            raise DeliveryError(f"the sink is shut down ({problem})")
    raise DeliveryError(f"{origin}{path}: {problem} after {policy.attempts} attempts")
