"""The Datadog LLM Observability sink: span events to the LLM Observability intake, evaluations
to the eval-metric endpoint, either agentless (with an API key) or through a Datadog Agent's
EVP proxy. Paths, headers and bodies follow docs/wire-formats.md."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._faults import safe_str
from .._log import log, warn_limited
from ._datadog_payload import Body, Encoding, evaluation_bodies, span_bodies
from ._http import DeliveryError, Origin, Response, RetryPolicy, post_with_retries
from ._secret import Secret, checked_api_key
from .base import Event, PartialDelivery, tracer_version

SPANS_PATH = "/api/v2/llmobs"
EVALUATIONS_PATH = "/api/intake/llm-obs/v2/eval-metric"
EVP_PROXY_PREFIX = "/evp_proxy/v2"
EVP_SUBDOMAIN_HEADER = "X-Datadog-EVP-Subdomain"
DEFAULT_AGENT_URL = "http://localhost:8126"
DEFAULT_SITE = "datadoghq.com"
DEFAULT_TIMEOUT = 5.0

__all__ = ["DatadogSink", "DeliveryError", "RetryPolicy"]


@dataclass(frozen=True)
class _Route:
    origin: Origin
    path: str
    headers: dict[str, str] = field(repr=False)


def _json_headers(extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", **extra}


class DatadogSink:
    """Build one with `DatadogSink.agentless(api_key, site)` or
    `DatadogSink.through_agent(agent_url)`; `override_origin` sends to another origin (a test
    intake, a proxy) with the same paths and headers. The API key is masked in every log line
    and exception the sink lets out, whatever the intake answers."""

    def __init__(self, spans: _Route, evaluations: _Route, retry: RetryPolicy | None = None,
                 secret: Secret | None = None) -> None:
        self._spans = spans
        self._evaluations = evaluations
        self._retry = retry or RetryPolicy()
        self._secret = secret
        self._tracer_version = tracer_version()
        self._stop = threading.Event()
        self._reported: set[tuple[str, int]] = set()
        self._counts = dict.fromkeys(
            ("requests", "retries", "sent", "failed", "rejected", "truncated", "unencodable"), 0)

    @classmethod
    def agentless(cls, api_key: str, site: str = DEFAULT_SITE, *,
                  override_origin: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                  retry: RetryPolicy | None = None) -> DatadogSink:
        """Straight to Datadog: https://llmobs-intake.{site} and https://api.{site}. The key
        is stripped of surrounding whitespace; one no HTTP header can carry raises ValueError."""
        api_key = checked_api_key(api_key)
        secret = Secret(api_key)
        headers = _json_headers({"DD-API-KEY": api_key})
        if override_origin:
            spans_origin = evaluations_origin = Origin(override_origin, timeout, secret)
        else:
            spans_origin = Origin(f"https://llmobs-intake.{site}", timeout, secret)
            evaluations_origin = Origin(f"https://api.{site}", timeout, secret)
        return cls(_Route(spans_origin, SPANS_PATH, headers),
                   _Route(evaluations_origin, EVALUATIONS_PATH, headers), retry, secret)

    @classmethod
    def through_agent(cls, agent_url: str | None = None, *, override_origin: str | None = None,
                      timeout: float = DEFAULT_TIMEOUT,
                      retry: RetryPolicy | None = None) -> DatadogSink:
        """Through the Agent's EVP proxy (http://, https:// or unix:// agent URL); no API key."""
        origin = Origin(override_origin or agent_url or DEFAULT_AGENT_URL, timeout)
        return cls(
            _Route(origin, EVP_PROXY_PREFIX + SPANS_PATH,
                   _json_headers({EVP_SUBDOMAIN_HEADER: "llmobs-intake"})),
            _Route(origin, EVP_PROXY_PREFIX + EVALUATIONS_PATH,
                   _json_headers({EVP_SUBDOMAIN_HEADER: "api"})),
            retry)

    @classmethod
    def from_config(cls, config: Any) -> DatadogSink:
        """The sink that an llmobs Config asks for (agentless or Agent, override origin)."""
        if config.agentless_enabled:
            return cls.agentless(config.api_key or "", config.site,
                                 override_origin=config.override_origin)
        return cls.through_agent(config.agent_url, override_origin=config.override_origin)

    def __repr__(self) -> str:
        return (f"<DatadogSink spans={self._spans.origin}{self._spans.path} "
                f"evaluations={self._evaluations.origin}{self._evaluations.path}>")

    # -- the Sink contract (called from the writer thread) --------------------------------------

    def send_spans(self, events: Sequence[Event]) -> None:
        encoding = Encoding()
        self._guarded(lambda: self._deliver(
            self._spans, span_bodies(events, self._tracer_version, encoding), encoding,
            len(events), "span events"))

    def send_evaluations(self, metrics: list[Event]) -> None:
        encoding = Encoding()
        self._guarded(lambda: self._deliver(
            self._evaluations, evaluation_bodies(metrics, encoding), encoding, len(metrics),
            "evaluations"))

    def shutdown(self) -> None:
        """Stop retrying and close the connections. Final: sending after this raises
        DeliveryError, so give each enable() a new sink."""
        self._stop.set()
        self._spans.origin.close()
        self._evaluations.origin.close()

    def stats(self) -> dict[str, int]:
        """requests, retries, and events sent, failed (retries ran out), rejected (a 4xx
        answer), truncated (sent with input and output dropped) and unencodable (dropped: JSON
        could not encode them)."""
        return dict(self._counts)

    # -- delivery ------------------------------------------------------------------------------

    def _masked(self, text: str) -> str:
        return text if self._secret is None else self._secret.mask(text)

    def _guarded(self, deliver: Callable[[], None]) -> None:
        """An exception whose message holds the key is replaced, raised outside the except
        block so that no context exception carries the raw text along: a PartialDelivery by
        the same with the key masked, any other by a DeliveryError. The rest go on unchanged."""
        try:
            deliver()
            return
        except Exception as exc:
            message = (str(exc) if isinstance(exc, (DeliveryError, PartialDelivery))
                       else f"{type(exc).__name__}: {safe_str(exc)}")
            masked = self._masked(message)
            if masked == message:
                raise
            partial = exc if isinstance(exc, PartialDelivery) else None
        if partial is not None:
            raise PartialDelivery(partial.undelivered, masked, partial.already_logged)
        raise DeliveryError(masked)

    def _note_encoding(self, encoding: Encoding, what: str) -> None:
        counts = self._counts
        if encoding.truncated:
            counts["truncated"] += encoding.truncated
            warn_limited(f"datadog.oversize.{what}", "llmobs: %d %s of 5,000,000 bytes or more "
                         "were sent cut down", encoding.truncated, what)
        if encoding.left_out:
            counts["unencodable"] += len(encoding.left_out)
            warn_limited(f"datadog.unencodable.{what}", "llmobs: %d %s could not be encoded as "
                         "JSON (a circular reference?) and were dropped", len(encoding.left_out),
                         what)

    def _deliver(self, route: _Route, bodies: Iterator[Body], encoding: Encoding, n: int,
                 what: str) -> None:
        """POST each body as it is made. Raises PartialDelivery naming the events left out,
        if any: those that could not be encoded, and those in bodies the intake did not take
        (refused, or not sent once delivery failed)."""
        counts = self._counts
        delivered: list[list[int]] = []
        refused: list[int] = []
        failure: DeliveryError | None = None
        for body, indexes in bodies:
            try:
                response, retries = post_with_retries(route.origin, route.path, body,
                                                      route.headers, self._retry, self._stop)
            except DeliveryError as exc:
                failure = exc
                break
            counts["requests"] += 1 + retries
            counts["retries"] += retries
            if response.ok:
                counts["sent"] += len(indexes)
                delivered.append(indexes)
            else:
                counts["rejected"] += len(indexes)
                refused += indexes
                self._report_rejection(route, response, len(indexes), what)
        self._note_encoding(encoding, what)
        undelivered = dict.fromkeys(refused, "sink_error")
        problem = f"{len(refused)} {what} refused by the intake" if refused else ""
        if failure is not None:
            taken = set(refused).union(encoding.left_out, *delivered)
            unsent = [index for index in range(n) if index not in taken]
            counts["failed"] += len(unsent)
            undelivered.update(dict.fromkeys(unsent, "sink_error"))
            problem = f"{len(unsent)} {what} not delivered: {failure}"
        if not undelivered and not encoding.left_out:
            return
        if not delivered and not encoding.left_out:  # the batch failed whole
            raise DeliveryError(problem) from None
        undelivered.update(dict.fromkeys(encoding.left_out, "unencodable"))
        # Without a delivery problem, what was left out was logged just above.
        raise PartialDelivery(undelivered, problem, already_logged=not problem) from failure

    def _report_rejection(self, route: _Route, response: Response, n_events: int,
                          what: str) -> None:
        """A 4xx that retrying cannot fix (bad key, bad site, bad payload): logged once per
        status and kind of event, so a misconfiguration does not flood the host's logs."""
        key = (what, response.status)
        if key in self._reported:
            return
        self._reported.add(key)
        detail = response.body_excerpt.strip()
        hint = " (check DD_API_KEY and DD_SITE)" if response.status in (401, 403) else ""
        log.error("%s", self._masked(
            f"llmobs: {route.origin}{route.path} refused {n_events} {what}: HTTP "
            f"{response.status} {response.reason}{f': {detail}' if detail else ''}{hint}; they "
            "are dropped (logged once)"))
