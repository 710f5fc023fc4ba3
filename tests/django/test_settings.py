"""The LLMOBS settings dict: every misconfiguration fails at startup naming the setting; the app
config enables llmobs from settings and the environment and never rewrites settings."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from llmobs_core import LLMObs
from llmobs_core.export.memory import MemorySink
from llmobs_core.tracer import state
from tests.apps.django_project.harness import REPO_DIR, setup_django


@pytest.fixture(scope="module", autouse=True)
def django_project() -> None:
    setup_django()


def _middleware():
    from llmobs_django.middleware import LLMObsMiddleware

    return LLMObsMiddleware(lambda request: None)


BAD_SETTINGS = [
    ("not a dict", "LLMOBS must be a dict"),
    ({"ML_AP": "x"}, "LLMOBS['ML_AP'] is not a setting"),
    ({"ML_APP": "Bad App"}, "LLMOBS['ML_APP'] = 'Bad App' is not a valid ml_app"),
    ({"ML_APP": "tests.apps.django_project.routing.no_such_router"}, "LLMOBS['ML_APP']"),
    ({"ML_APP": "tests.apps.django_project.missing_module.router"}, "LLMOBS['ML_APP']"),
    ({"ML_APP": 42}, "LLMOBS['ML_APP'] must be a callable"),
    ({"SESSION_ID": "no_such_module_for_llmobs.session"}, "LLMOBS['SESSION_ID']"),
    ({"SESSION_ID": "tests.apps.django_project.settings.SECRET_KEY"},
     "LLMOBS['SESSION_ID'] must be a"),
    ({"SPAN_KIND": "request"}, "LLMOBS['SPAN_KIND'] = 'request' is not a span kind"),
    ({"EXCLUDE": "/health"}, "LLMOBS['EXCLUDE'] must be a list"),
    ({"EXCLUDE": ["health"]}, "LLMOBS['EXCLUDE'] holds 'health'"),
    ({"ENABLE": ["service"]}, "LLMOBS['ENABLE'] must be a dict"),
    ({"ENABLE": {"ml_ap": "x"}}, "LLMOBS['ENABLE']['ml_ap'] is not an LLMObs.enable() option"),
    ({"ML_APP": "a", "ENABLE": {"ml_app": "b"}}, "LLMOBS['ML_APP'] and LLMOBS['ENABLE']"),
]


@pytest.mark.parametrize(("value", "message"), BAD_SETTINGS)
def test_each_bad_setting_stops_the_middleware_naming_the_setting(value, message):
    """Django builds middleware at startup: a bad LLMOBS value raises ImproperlyConfigured there,
    and the message names the setting at fault."""
    with override_settings(LLMOBS=value), pytest.raises(ImproperlyConfigured) as raised:
        _middleware()
    assert message in str(raised.value)


@pytest.mark.parametrize(("enable", "message"), [
    ({"exporter": "nowhere"}, "unknown exporter 'nowhere'"),
    ({"ml_app": "Not Valid"}, "ml_app 'Not Valid' is invalid"),
    ({"tags": ["not", "a", "dict"]}, "tags must be a dict"),
])
def test_enable_options_that_enable_rejects_fail_naming_llmobs_enable(enable, message):
    """Values only LLMObs.enable() can judge are reported as LLMOBS['ENABLE'] problems."""
    from llmobs_django.apps import enable_from_settings

    with override_settings(LLMOBS={"ENABLE": enable}), pytest.raises(ImproperlyConfigured) as err:
        enable_from_settings()
    assert "LLMOBS['ENABLE']" in str(err.value) and message in str(err.value)


def test_django_refuses_to_start_with_a_router_that_does_not_import():
    """At process startup (django.setup()), an ML_APP dotted path that does not import stops
    Django with ImproperlyConfigured naming LLMOBS['ML_APP']."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.apps.django_project.settings_broken",
           "PYTHONPATH": str(REPO_DIR)}
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                          cwd=REPO_DIR, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert "LLMOBS['ML_APP'] = 'tests.apps.django_project.routing.no_such_router'" in done.stderr


def test_a_dotted_name_that_is_no_module_path_is_a_fixed_ml_app():
    """"shop.search" is a valid ml_app name and no importable path: it is taken as the name,
    while the dotted path of a callable is taken as a router."""
    from llmobs_django import conf

    with override_settings(LLMOBS={"ML_APP": "shop.search"}):
        fixed = conf.load()
    assert (fixed.ml_app, fixed.ml_app_router) == ("shop.search", None)
    with override_settings(LLMOBS={"ML_APP": "tests.apps.django_project.routing.ml_app_for"}):
        routed = conf.load()
    assert routed.ml_app is None and routed.ml_app_router.function.__name__ == "ml_app_for"


def test_callables_may_be_given_directly_and_async_ones_are_recognised():
    """Settings may hold the callables themselves; an async SESSION_ID is known to be async."""
    from llmobs_django import conf
    from tests.apps.django_project.routing import async_session_for, ml_app_for

    with override_settings(LLMOBS={"ML_APP": ml_app_for, "SESSION_ID": async_session_for}):
        loaded = conf.load()
    assert loaded.ml_app_router.function is ml_app_for and not loaded.ml_app_router.is_async
    assert loaded.session_id.is_async


def test_no_llmobs_setting_means_every_default():
    """Without LLMOBS, requests get workflow spans named by route, nothing excluded."""
    from llmobs_django import conf

    with override_settings():
        from django.conf import settings

        del settings.LLMOBS
        loaded = conf.load()
    assert loaded == conf.LLMObsSettings()
    assert loaded.span_kind == "workflow" and loaded.exclude == ()


def test_a_fixed_ml_app_is_the_configured_one_and_a_caller_s_ml_app_beats_it():
    """A fixed LLMOBS['ML_APP'] is passed to enable() (with the ENABLE options), so requests are
    recorded under it, unless the caller propagated its own (wire-formats.md's proxy rule)."""
    from llmobs_core.propagation import inject_dict
    from llmobs_django.apps import enable_from_settings

    sink = MemorySink()
    fixed = {"ML_APP": "fixed-app", "ENABLE": {"exporter": sink, "service": "svc"}}
    with override_settings(LLMOBS=fixed):
        enable_from_settings()
        client = Client()
        client.get("/items/1/")
        headers = inject_dict({}, trace_id=7, span_id=8, apm_trace_id=7, ml_app="caller-app",
                              session_id=None)
        client.get("/items/2/", headers=headers)
    LLMObs.flush()
    requests = [span for span in sink.spans if span["name"].startswith("GET")]
    assert [_tag(span, "ml_app") for span in requests] == ["fixed-app", "caller-app"]
    assert all(_tag(span, "service") == "svc" for span in requests)


def test_the_environment_fills_what_settings_leave_out(monkeypatch):
    """ENABLE without an ml_app: DD_LLMOBS_ML_APP gives the configured ml_app; ENABLE's own
    options beat the environment's (DD_SERVICE)."""
    from llmobs_django.apps import enable_from_settings

    monkeypatch.setenv("DD_LLMOBS_ML_APP", "from-env")
    monkeypatch.setenv("DD_SERVICE", "env-service")
    with override_settings(LLMOBS={"ENABLE": {"exporter": "memory", "service": "set-service"}}):
        enable_from_settings()
    assert state.tracer.config.ml_app == "from-env"
    assert state.tracer.config.service == "set-service"


def test_dd_llmobs_enabled_false_keeps_llmobs_off(monkeypatch):
    """DD_LLMOBS_ENABLED=false wins over the app config: nothing is enabled."""
    from llmobs_django.apps import enable_from_settings

    monkeypatch.setenv("DD_LLMOBS_ENABLED", "false")
    with override_settings(LLMOBS={"ENABLE": {"exporter": "memory"}}):
        enable_from_settings()
    assert not LLMObs.enabled()


def test_settings_are_never_rewritten():
    """Loading settings, enabling and serving requests leave LLMOBS and MIDDLEWARE as they were."""
    from django.conf import settings

    from llmobs_django.apps import enable_from_settings

    before = copy.deepcopy((settings.LLMOBS, settings.MIDDLEWARE, settings.INSTALLED_APPS))
    enable_from_settings()
    Client().get("/items/3/", headers={"X-Session-Id": "s"})
    assert before == (settings.LLMOBS, settings.MIDDLEWARE, settings.INSTALLED_APPS)


def _tag(event: dict, key: str) -> str | None:
    return next((t.split(":", 1)[1] for t in event["tags"] if t.startswith(key + ":")), None)
