"""The app config: checks settings.LLMOBS and enables llmobs once, when Django starts."""

from __future__ import annotations

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured

from llmobs_core import LLMObs

from . import conf

_started = False


class LLMObsConfig(AppConfig):
    name = "llmobs_django"
    label = "llmobs_django"
    verbose_name = "LLM Observability"

    def ready(self) -> None:
        global _started
        if not _started:  # Django may call ready() more than once
            enable_from_settings()
            _started = True


def enable_from_settings() -> None:
    """Enable llmobs from settings.LLMOBS['ENABLE'] (and ML_APP when it is a fixed name); what
    they leave out comes from the environment (DD_LLMOBS_ML_APP, DD_SERVICE, ...).
    DD_LLMOBS_ENABLED=false still wins. A bad value raises ImproperlyConfigured."""
    options = conf.load().enable_options()
    try:
        LLMObs.enable(**options)
    except (TypeError, ValueError, ImportError) as exc:
        raise ImproperlyConfigured(
            f"llmobs could not be enabled from LLMOBS['ENABLE'] and the environment: {exc}"
        ) from exc
