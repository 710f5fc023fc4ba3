"""Where and how the OTLP sink sends: its arguments, else OpenTelemetry's standard OTLP
exporter settings (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION,
_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY) and OTEL_RESOURCE_ATTRIBUTES, read as
OpenTelemetry's Python exporter reads them (the timeout in seconds)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from .._log import warn_limited

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
DEFAULT_TIMEOUT = 10.0


def _setting(name: str) -> str | None:
    """OTEL_EXPORTER_OTLP_TRACES_<name>, else OTEL_EXPORTER_OTLP_<name>."""
    value = os.environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or os.environ.get(
        f"OTEL_EXPORTER_OTLP_{name}")
    return value.strip() if value and value.strip() else None


def parse_pairs(text: str | None) -> dict[str, str]:
    """`key=value,key2=value2`, each part percent-decoded (the W3C baggage-like form that
    OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES use)."""
    pairs: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


@dataclass(frozen=True)
class OTLPSettings:
    endpoint: str
    headers: dict[str, str] = field(repr=False)
    timeout: float
    gzip: bool
    tls: ssl.SSLContext | None = field(repr=False)

    @classmethod
    def resolve(cls, endpoint: str | None, headers: Mapping[str, str] | None,
                timeout: float | None) -> OTLPSettings:
        """An explicit endpoint is used as it is; OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces
        appended, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT does not."""
        if endpoint is None:
            endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or None
        if endpoint is None:
            base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
            endpoint = base.rstrip("/") + "/v1/traces" if base else DEFAULT_ENDPOINT
        all_headers = {"Content-Type": "application/x-protobuf",
                       **parse_pairs(_setting("HEADERS")), **(dict(headers) if headers else {})}
        gzip = (_setting("COMPRESSION") or "none").lower() == "gzip"
        if gzip:
            all_headers["Content-Encoding"] = "gzip"
        return cls(endpoint, all_headers, timeout if timeout is not None else _timeout(), gzip,
                   _tls())


def _timeout() -> float:
    raw = _setting("TIMEOUT")
    if raw is None:
        return DEFAULT_TIMEOUT
    try:
        return float(raw)
    except ValueError:
        warn_limited("otlp.timeout", "llmobs: OTEL_EXPORTER_OTLP_TIMEOUT=%r is not a number; "
                     "using %g s", raw, DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT


def _tls() -> ssl.SSLContext | None:
    """A TLS context for a custom CA or a client certificate; None for the defaults."""
    ca, cert, key = _setting("CERTIFICATE"), _setting("CLIENT_CERTIFICATE"), _setting("CLIENT_KEY")
    if not (ca or cert):
        return None
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(cert, key)
    return context


def resource_attributes() -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES, and OTEL_SERVICE_NAME as service.name."""
    found = parse_pairs(os.environ.get("OTEL_RESOURCE_ATTRIBUTES"))
    service = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if service:
        found["service.name"] = service
    return found
