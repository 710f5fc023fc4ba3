"""The LLMOBS settings dict, read and checked once: a wrong value fails at startup with
ImproperlyConfigured naming the setting (e.g. ``LLMOBS['ML_APP']``)."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from llmobs_core import KINDS, LLMObs
from llmobs_core._adapter import ml_app_problem

KEYS = ("ENABLE", "EXCLUDE", "ML_APP", "SESSION_ID", "SPAN_KIND")
ENABLE_OPTIONS = tuple(inspect.signature(LLMObs.enable).parameters)

RequestHook = Callable[[Any], Any]


@dataclass(frozen=True)
class Hook:
    """A callable taking the request (sync or async), and the setting it came from."""

    function: RequestHook
    setting: str
    is_async: bool


@dataclass(frozen=True)
class LLMObsSettings:
    ml_app: str | None = None  # a fixed ml_app: the configured one, passed to enable()
    ml_app_router: Hook | None = None
    session_id: Hook | None = None
    span_kind: str = "workflow"
    exclude: tuple[str, ...] = ()
    enable: dict[str, Any] = field(default_factory=dict)

    def enable_options(self) -> dict[str, Any]:
        options = dict(self.enable)
        if self.ml_app is not None:
            options["ml_app"] = self.ml_app
        return options


def load() -> LLMObsSettings:
    """Read settings.LLMOBS (absent means every default). Never writes settings."""
    raw = getattr(settings, "LLMOBS", None)
    if raw is None:
        return LLMObsSettings()
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"LLMOBS must be a dict, not {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in KEYS)
    if unknown:
        raise ImproperlyConfigured(
            f"LLMOBS[{unknown[0]!r}] is not a setting; the settings are {', '.join(KEYS)}")
    ml_app, router = _ml_app(raw.get("ML_APP"))
    enable = _enable(raw.get("ENABLE"))
    if ml_app is not None and "ml_app" in enable:
        raise ImproperlyConfigured(
            "LLMOBS['ML_APP'] and LLMOBS['ENABLE']['ml_app'] are both set: set the ml_app once")
    return LLMObsSettings(
        ml_app=ml_app,
        ml_app_router=router,
        session_id=_hook(raw.get("SESSION_ID"), "LLMOBS['SESSION_ID']"),
        span_kind=_span_kind(raw.get("SPAN_KIND", "workflow")),
        exclude=_exclude(raw.get("EXCLUDE")),
        enable=enable,
    )


def _ml_app(value: Any) -> tuple[str | None, Hook | None]:
    """A fixed name, or a callable (or the dotted path of one) routing each request."""
    setting = "LLMOBS['ML_APP']"
    if value is None:
        return None, None
    if isinstance(value, str) and not _looks_like_dotted_path(value):
        problem = ml_app_problem(value)
        if problem:
            raise ImproperlyConfigured(f"{setting} = {value!r} is not a valid ml_app: {problem}")
        return value, None
    return None, _hook(value, setting)


def _looks_like_dotted_path(value: str) -> bool:
    # A lowercase dotted path is also a valid ml_app name: it is a path when its first part is
    # an importable module, so "shop.search" stays a name unless a module "shop" exists.
    head = value.partition(".")[0]
    if "." not in value or not head.isidentifier():
        return False
    try:
        return importlib.util.find_spec(head) is not None
    except (ImportError, ValueError):
        return False


def _hook(value: Any, setting: str) -> Hook | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{setting} = {value!r} does not import: {exc}") from exc
    if not callable(value):
        raise ImproperlyConfigured(
            f"{setting} must be a callable taking the request (or its dotted path), "
            f"not {type(value).__name__}")
    return Hook(value, setting, iscoroutinefunction(value))


def _span_kind(value: Any) -> str:
    if value not in KINDS:
        raise ImproperlyConfigured(
            f"LLMOBS['SPAN_KIND'] = {value!r} is not a span kind; use one of {', '.join(KINDS)}")
    return value


def _exclude(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ImproperlyConfigured(
            f"LLMOBS['EXCLUDE'] must be a list of path prefixes, not {type(value).__name__}")
    for prefix in value:
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            raise ImproperlyConfigured(
                f"LLMOBS['EXCLUDE'] holds {prefix!r}: each entry must be a path starting "
                "with '/'")
    return tuple(value)


def _enable(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"LLMOBS['ENABLE'] must be a dict of LLMObs.enable() options, not "
            f"{type(value).__name__}")
    for key in value:
        if key not in ENABLE_OPTIONS:
            raise ImproperlyConfigured(
                f"LLMOBS['ENABLE'][{key!r}] is not an LLMObs.enable() option; the options are "
                f"{', '.join(ENABLE_OPTIONS)}")
    return dict(value)
