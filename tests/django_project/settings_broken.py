"""Settings with an ML_APP router that does not exist: Django must refuse to start."""

from django_project.settings import *  # noqa: F403

LLMOBS = {"ML_APP": "django_project.routing.no_such_router"}
