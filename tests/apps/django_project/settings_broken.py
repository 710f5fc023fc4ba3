"""Settings with an ML_APP router that does not exist: Django must refuse to start."""

from tests.apps.django_project.settings import *  # noqa: F403

LLMOBS = {"ML_APP": "tests.apps.django_project.routing.no_such_router"}
