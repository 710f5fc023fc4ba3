"""Configuration, resolved once at enable(): explicit argument > environment > default."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._log import log
from ._values import as_name, safe_repr
from .sampling import checked_rate
from .sampling_rules import parse_rules

DEFAULT_ML_APP = "unnamed-ml-app"
_ML_APP_MAX = 193
_ML_APP_CHARS = re.compile(r"[a-z0-9_\-:./]*")
# DD_TRACE_PROPAGATION_STYLE's values that llmobs reads and writes, in ddtrace's default order.
PROPAGATION_STYLES = ("datadog", "tracecontext", "baggage")
_UNSUPPORTED_STYLES = frozenset(("b3", "b3multi", "b3 single header"))
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


def ml_app_problem(name: object) -> str | None:
    """Say which of docs/wire-formats.md's ml_app rules `name` breaks, or None when it is valid."""
    if not issubclass(type(name), str):
        return f"it must be a string, not {type(name).__name__}"
    name = str.__str__(name)
    if not name:
        return "it must not be empty"
    if len(name) > _ML_APP_MAX:
        return f"it must be at most {_ML_APP_MAX} characters (it has {len(name)})"
    if name != name.lower():
        return "it must be lowercase"
    if not _ML_APP_CHARS.fullmatch(name):
        return 'it may contain only letters, digits and "_", "-", ":", ".", "/"'
    if "__" in name:
        return "it must not contain runs of underscores"
    if name.endswith("_"):
        return "it must not end with an underscore"
    return None


def parse_bool(value: str | None, setting: str) -> bool | None:
    if value is None or value.strip() == "":
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{setting}={value!r} is not a boolean: use true or false")


def parse_tags(value: str | None) -> tuple[str, ...]:
    """DD_TAGS: "k:v,k2:v2" or "k:v k2:v2"."""
    if not value:
        return ()
    parts = value.replace(",", " ").split()
    return tuple(p for p in parts if ":" in p and not p.startswith(":"))


@dataclass(frozen=True)
class Config:
    ml_app: str | None = None
    service: str | None = None
    env: str | None = None
    version: str | None = None
    agentless_enabled: bool = False
    site: str = "datadoghq.com"
    api_key: str | None = field(default=None, repr=False)
    tags: tuple[str, ...] = ()
    exporter: Any = None
    span_processor: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    shutdown_timeout: float = 2.0
    instrumented_proxy_urls: tuple[str, ...] = ()
    override_origin: str | None = None
    agent_url: str | None = None
    otlp_endpoint: str | None = None
    otlp_headers: Mapping[str, str] | None = field(default=None, repr=False)
    sample_rate: float = 1.0
    sampling_rules: tuple[Any, ...] = ()  # DD_LLMOBS_SAMPLING_RULES (sampling_rules.py)
    propagation_inject: tuple[str, ...] = PROPAGATION_STYLES
    propagation_extract: tuple[str, ...] = PROPAGATION_STYLES

    @property
    def default_ml_app(self) -> str:
        return self.ml_app or self.service or DEFAULT_ML_APP

    def static_tags(self) -> list[str]:
        """The tags every span of this process carries (per-span ones are added at export)."""
        tags = [f"{key}:{value}" for key, value in
                (("service", self.service), ("env", self.env), ("version", self.version))
                if value]
        tags.append("language:python")
        tags.append("source:integration")  # as ddtrace 4.x marks every span
        tags.extend(self.tags)
        return tags


def _exporter_names(value: str | None) -> list[str] | None:
    """LLMOBS_EXPORTER: one or more sink names, comma-separated (e.g. "local,console")."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    return names or None


def resolve(explicit: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """The Config for enable()'s `explicit` arguments over `environ`. A setting of the wrong
    type raises TypeError, an invalid one ValueError, naming it."""
    env = os.environ if environ is None else environ

    def pick(name: str, variable: str) -> Any:
        value = _text_setting(name, explicit.get(name))
        return value if value is not None else (env.get(variable) or None)

    agentless = _flag("agentless_enabled", explicit.get("agentless_enabled"))
    if agentless is None:
        agentless = parse_bool(env.get("DD_LLMOBS_AGENTLESS_ENABLED"),
                               "DD_LLMOBS_AGENTLESS_ENABLED") or False
    ml_app = pick("ml_app", "DD_LLMOBS_ML_APP")
    if ml_app is not None:
        problem = ml_app_problem(ml_app)
        if problem:
            raise ValueError(f"ml_app {ml_app[:200]!r} is invalid: {problem}")
    processor = explicit.get("span_processor")
    if processor is not None and not callable(processor):
        raise TypeError("span_processor must be a callable taking a span event dict")
    return Config(
        ml_app=ml_app,
        service=pick("service", "DD_SERVICE"),
        env=pick("env", "DD_ENV"),
        version=pick("version", "DD_VERSION"),
        agentless_enabled=bool(agentless),
        site=pick("site", "DD_SITE") or "datadoghq.com",
        api_key=_api_key(pick("api_key", "DD_API_KEY")),
        tags=parse_tags(env.get("DD_TAGS")) + _tag_setting(explicit.get("tags")),
        exporter=explicit.get("exporter") or _exporter_names(env.get("LLMOBS_EXPORTER")),
        span_processor=processor,
        shutdown_timeout=_timeout(explicit.get("shutdown_timeout")),
        instrumented_proxy_urls=_proxy_urls(explicit.get("instrumented_proxy_urls"),
                                            env.get("DD_LLMOBS_INSTRUMENTED_PROXY_URLS")),
        override_origin=pick("override_origin", "DD_LLMOBS_OVERRIDE_ORIGIN"),
        agent_url=_text_setting("agent_url", explicit.get("agent_url")) or _agent_url(env),
        otlp_endpoint=_otlp_endpoint(_text_setting("otlp_endpoint", explicit.get(
            "otlp_endpoint")), env),
        otlp_headers=_headers_setting(explicit.get("otlp_headers")),
        sample_rate=_sample_rate(explicit.get("sample_rate"), env.get("DD_LLMOBS_SAMPLE_RATE")),
        sampling_rules=parse_rules(env.get("DD_LLMOBS_SAMPLING_RULES")),
        propagation_inject=propagation_styles(env, "INJECT"),
        propagation_extract=propagation_styles(env, "EXTRACT"),
    )


def _sample_rate(explicit: Any, variable: str | None) -> float:
    if explicit is not None:
        return checked_rate(explicit, "sample_rate")
    if variable is None or not variable.strip():
        return 1.0
    return checked_rate(variable, "DD_LLMOBS_SAMPLE_RATE")


def propagation_styles(env: Mapping[str, str], direction: str) -> tuple[str, ...]:
    """DD_TRACE_PROPAGATION_STYLE_<direction> (INJECT or EXTRACT), else
    DD_TRACE_PROPAGATION_STYLE, else datadog,tracecontext,baggage: comma-separated styles in
    any letter case, in order of precedence. "none" alone means none; b3 and b3multi, which
    llmobs does not speak, and unknown names are skipped with a warning."""
    variable = f"DD_TRACE_PROPAGATION_STYLE_{direction}"
    value = env.get(variable, "").strip()
    if not value:
        variable = "DD_TRACE_PROPAGATION_STYLE"
        value = env.get(variable, "").strip()
    if not value:  # unset or empty: the default
        return PROPAGATION_STYLES
    styles: list[str] = []
    for style in value.split(","):
        style = style.strip().lower()
        if not style or style == "none" or style in styles:
            continue
        if style in PROPAGATION_STYLES:
            styles.append(style)
        elif style in _UNSUPPORTED_STYLES:
            log.warning("llmobs: %s style %r is not supported by llmobs; ignored", variable, style)
        else:
            log.warning("llmobs: unknown %s style %r ignored (known: %s, none)", variable, style,
                        ", ".join(PROPAGATION_STYLES))
    return tuple(styles)


def _text_setting(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not issubclass(type(value), str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return str.__str__(value)


def _flag(name: str, value: Any) -> bool | None:
    if value is None or type(value) is bool:
        return value
    if issubclass(type(value), int):
        return bool(int.__index__(value))
    raise TypeError(f"{name} must be True or False, not {type(value).__name__}")


def _timeout(value: Any) -> float:
    if value is None:
        return 2.0
    if issubclass(type(value), bool) or not issubclass(type(value), (int, float)):
        raise TypeError(f"shutdown_timeout must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not 0 <= seconds < 1e9:  # NaN fails this too
        raise ValueError(f"shutdown_timeout must be a number of seconds, not {seconds!r}")
    return seconds or 2.0


def _pairs(name: str, value: Any) -> list[tuple[str, str]]:
    """A dict of names to values as strings (numbers written out); TypeError otherwise."""
    if not issubclass(type(value), Mapping):
        raise TypeError(f"{name} must be a dict of names to values, not {type(value).__name__}")
    try:
        items = list(value.items())
    except Exception as exc:
        raise TypeError(f"{name} could not be read: {type(exc).__name__}") from exc
    pairs = []
    for key, item in items:
        key_text = as_name(key)
        item_text = str.__str__(item) if issubclass(type(item), str) else as_name(item)
        if key_text is None or item_text is None:
            raise TypeError(f"{name} must map strings to strings (or numbers); "
                            f"{safe_repr(key)} does not")
        pairs.append((key_text, item_text))
    return pairs


def _tag_setting(value: Any) -> tuple[str, ...]:
    return () if value is None else tuple(f"{k}:{v}" for k, v in _pairs("tags", value))


def _headers_setting(value: Any) -> dict[str, str] | None:
    return None if value is None else dict(_pairs("otlp_headers", value))


def _api_key(value: Any) -> str | None:
    """Without surrounding whitespace: a key read from a file keeps its newline, which no HTTP
    header can carry (and http.client's error would quote the key)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"api_key must be a string, not {type(value).__name__}")
    return value.strip() or None


def _agent_url(env: Mapping[str, str]) -> str | None:
    """DD_TRACE_AGENT_URL, else DD_AGENT_HOST / DD_TRACE_AGENT_PORT; None if no Agent is set."""
    if env.get("DD_TRACE_AGENT_URL"):
        return env["DD_TRACE_AGENT_URL"]
    host, port = env.get("DD_AGENT_HOST"), env.get("DD_TRACE_AGENT_PORT")
    if not (host or port):
        return None
    host = host or "localhost"
    return f"http://{f'[{host}]' if ':' in host else host}:{port or 8126}"


def _otlp_endpoint(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """The URL spans are POSTed to: a base endpoint (argument or OTEL_EXPORTER_OTLP_ENDPOINT)
    gets /v1/traces appended; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is."""
    base = explicit
    if not base:
        if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not base:
        return None
    return base if base.rstrip("/").endswith("/v1/traces") else base.rstrip("/") + "/v1/traces"


def _proxy_urls(explicit: Any, variable: str | None) -> tuple[str, ...]:
    if explicit is None:
        explicit = (variable or "").split(",")
    elif not issubclass(type(explicit), (list, tuple)) or not all(
            type(url) is str for url in explicit):
        raise TypeError("instrumented_proxy_urls must be a list of URL strings")
    return tuple(url.strip() for url in explicit if url.strip())
