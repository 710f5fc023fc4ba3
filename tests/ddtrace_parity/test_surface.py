"""Name by name: every public method and keyword of ddtrace 4.x's LLMObs tracing, annotation,
evaluation and propagation API, and of ddtrace.llmobs.decorators, exists on llmobs. The names
not built yet are listed in MISSING and fail strictly, so the list shrinks as they land."""

from __future__ import annotations

import inspect

import pytest

from llmobs_core import LLMObs, decorators

ddtrace_llmobs = pytest.importorskip("ddtrace.llmobs")
ddtrace_decorators = pytest.importorskip("ddtrace.llmobs.decorators")

# Need Datadog's backend (datasets, experiments, managed prompts): out of scope, see
# docs/migrating-from-ddtrace.md.
PLATFORM_ONLY = {
    "async_experiment", "clear_prompt_cache", "create_dataset", "create_dataset_from_csv",
    "create_prompt", "create_prompt_version", "delete_prompt", "experiment", "get_prompt",
    "list_experiments", "list_prompt_versions", "list_prompts", "publish_evaluator",
    "pull_dataset", "pull_experiment", "refresh_prompt", "update_prompt",
    "update_prompt_version",
}
NOT_USER_API = {"join", "start", "stop"}  # ddtrace's internal Service base class
# Platform-flavoured keywords of ddtrace's that llmobs does not take (listed in the docs).
PLATFORM_KEYWORDS = {("enable", "app_key"), ("enable", "project_name"),
                     ("annotate", "cost_tags"), ("annotate", "agent"),
                     ("annotation_context", "cost_tags"), ("annotation_context", "agent")}
MISSING: set[object] = set()  # issue 17 items not built yet on this branch
DECORATOR_MISSING: set[tuple[str, str]] = set()


def _methods() -> list[str]:
    dd = ddtrace_llmobs.LLMObs
    return sorted(name for name in dir(dd) if not name.startswith("_")
                  and name not in PLATFORM_ONLY | NOT_USER_API)


def _keywords(function) -> list[str]:
    return [name for name, parameter in inspect.signature(function).parameters.items()
            if not name.startswith("_") and parameter.kind is not parameter.VAR_KEYWORD]


def _cases() -> list:
    cases = []
    for name in _methods():
        marks = [pytest.mark.xfail(strict=True, reason="not built yet")] if name in MISSING else []
        cases.append(pytest.param(name, None, marks=marks, id=name))
        member = getattr(ddtrace_llmobs.LLMObs, name)
        if not callable(member) or name in MISSING:
            continue
        for keyword in _keywords(member):
            if (name, keyword) in PLATFORM_KEYWORDS:
                continue
            marks = ([pytest.mark.xfail(strict=True, reason="not built yet")]
                     if (name, keyword) in MISSING else [])
            cases.append(pytest.param(name, keyword, marks=marks, id=f"{name}-{keyword}"))
    return cases


@pytest.mark.parametrize(("method", "keyword"), _cases())
def test_every_ddtrace_method_and_keyword_exists(method: str, keyword: str | None) -> None:
    """The ddtrace LLMObs member exists on llmobs's LLMObs and takes the keyword by name."""
    assert hasattr(LLMObs, method), f"LLMObs.{method} is missing"
    if keyword is not None:
        parameters = inspect.signature(getattr(LLMObs, method)).parameters
        assert keyword in parameters, f"LLMObs.{method}() does not take {keyword}="


def _decorator_cases() -> list:
    cases = []
    for kind in ("agent", "embedding", "llm", "retrieval", "task", "tool", "workflow"):
        for keyword in _keywords(getattr(ddtrace_decorators, kind)):
            if keyword == "original_func":
                continue
            marks = ([pytest.mark.xfail(strict=True, reason="not built yet")]
                     if (kind, keyword) in DECORATOR_MISSING else [])
            cases.append(pytest.param(kind, keyword, marks=marks, id=f"{kind}-{keyword}"))
    return cases


@pytest.mark.parametrize(("kind", "keyword"), _decorator_cases())
def test_every_ddtrace_decorator_keyword_is_accepted(kind: str, keyword: str) -> None:
    """Each ddtrace decorator keyword is accepted by llmobs's decorator of the same kind."""
    value = {"model_name": "m", "model_provider": "p", "name": "n", "session_id": "s",
             "ml_app": "app", "agent_service": "svc", "version": "1"}[keyword]
    decorate = getattr(decorators, kind)(**{keyword: value})
    assert callable(decorate(lambda: None))
