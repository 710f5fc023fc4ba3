"""Settings of the test project. The exporter is left to the environment (LLMOBS_EXPORTER), as
in a deployment; the in-process harness sets it to "memory"."""

SECRET_KEY = "django-project-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.apps.django_project.urls"
INSTALLED_APPS = ["llmobs_django"]
MIDDLEWARE = ["llmobs_django.middleware.LLMObsMiddleware"]
DATABASES: dict = {}
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"django.request": {"level": "CRITICAL"}},
}

LLMOBS = {
    "ML_APP": "tests.apps.django_project.routing.ml_app_for",
    "SESSION_ID": "tests.apps.django_project.routing.session_for",
    "EXCLUDE": ["/health", "/static/"],
    "ENABLE": {"service": "django-tests"},
}
