"""enable(): explicit arguments beat the environment; ml_app rules; wrong settings raise."""

from __future__ import annotations

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import ml_app_problem, resolve
from llmobs_core.testing import capture


def test_environment_is_read_and_explicit_arguments_win(monkeypatch) -> None:
    """DD_* variables configure llmobs; an explicit argument overrides each of them."""
    monkeypatch.setenv("DD_LLMOBS_ML_APP", "env-app")
    monkeypatch.setenv("DD_SERVICE", "env-service")
    monkeypatch.setenv("DD_ENV", "staging")
    monkeypatch.setenv("DD_VERSION", "9")
    monkeypatch.setenv("DD_TAGS", "team:ml,region:eu")
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")
    monkeypatch.setenv("DD_LLMOBS_AGENTLESS_ENABLED", "true")
    config = resolve({})
    assert (config.ml_app, config.service, config.env, config.version) == (
        "env-app", "env-service", "staging", "9")
    assert config.tags == ("team:ml", "region:eu")
    assert config.site == "datadoghq.eu" and config.agentless_enabled is True
    config = resolve({"ml_app": "arg-app", "service": "arg-service", "env": "prod",
                      "agentless_enabled": False, "site": "us5.datadoghq.com"})
    assert (config.ml_app, config.service, config.env) == ("arg-app", "arg-service", "prod")
    assert config.agentless_enabled is False and config.site == "us5.datadoghq.com"
    with capture() as captured, LLMObs.task("t"):
        pass
    tags = captured.spans[0]["tags"]
    for tag in ("ml_app:env-app", "service:env-service", "env:staging", "version:9", "team:ml",
                "region:eu"):
        assert tag in tags


def test_api_key_is_not_in_the_config_repr() -> None:
    """The API key never shows up when the configuration is printed or logged."""
    assert "sekrit" not in repr(resolve({"api_key": "sekrit"}))


@pytest.mark.parametrize(("name", "rule"), [
    ("My-App", "lowercase"), ("my app", "only letters"), ("a" * 194, "at most 193"),
    ("my__app", "runs of underscores"), ("my_app_", "end with an underscore"), ("", "empty"),
])
def test_invalid_ml_app_at_enable_raises_naming_the_rule(name, rule) -> None:
    """enable() refuses an ml_app that breaks a wire-formats.md rule, saying which one."""
    with pytest.raises(ValueError, match=rule):
        LLMObs.enable(ml_app=name, exporter="memory")
    assert not LLMObs.enabled()


@pytest.mark.parametrize("name", ["chat", "my-app_1", "team:app/v1.2", "a" * 193])
def test_valid_ml_app_names(name) -> None:
    """Names within the rules pass."""
    assert ml_app_problem(name) is None


def test_wrong_setting_types_raise_clearly(monkeypatch) -> None:
    """Set-up mistakes raise with a message naming the setting."""
    with pytest.raises(TypeError, match="span_processor must be a callable"):
        LLMObs.enable(span_processor="redact", exporter="memory")
    with pytest.raises(ValueError, match="unknown exporter 'kafka'"):
        LLMObs.enable(exporter="kafka")
    with pytest.raises(TypeError, match="neither a name"):
        LLMObs.enable(exporter=42)
    monkeypatch.setenv("DD_LLMOBS_AGENTLESS_ENABLED", "maybe")
    with pytest.raises(ValueError, match="DD_LLMOBS_AGENTLESS_ENABLED='maybe'"):
        LLMObs.enable(exporter="memory")


def test_dd_llmobs_enabled_false_turns_enable_into_a_no_op(monkeypatch) -> None:
    """DD_LLMOBS_ENABLED=false keeps llmobs off even when the code calls enable()."""
    monkeypatch.setenv("DD_LLMOBS_ENABLED", "false")
    LLMObs.enable(ml_app="x", exporter="memory")
    assert not LLMObs.enabled()
