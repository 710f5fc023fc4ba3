"""The web front of the ASGI-to-Celery test (`uvicorn tests.apps.celery_app.web:app`): POST
/dispatch?count=N publishes N `pid` tasks from inside the request span that LLMObsMiddleware
opens; the session id comes from the x-session-id request header."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import llmobs_celery
from llmobs_core import LLMObs
from llmobs_starlette import LLMObsMiddleware, request_header

from . import make_app
from .tasks import PREFIX

celery_app = make_app(os.environ["LLMOBS_TEST_BROKER"], os.environ["LLMOBS_TEST_BACKEND"],
                      os.environ["LLMOBS_TEST_QUEUE"])
LLMObs.enable(ml_app="celery-web", service="celery-web")
llmobs_celery.install(celery_app)


def dispatch(request: Request) -> JSONResponse:
    """A sync endpoint: Starlette runs it in a worker thread, where the request span is still
    the active one."""
    count = int(request.query_params["count"])
    pid = celery_app.tasks[PREFIX + "pid"]
    return JSONResponse({"task_ids": [pid.delay().id for _ in range(count)]})


app = LLMObsMiddleware(
    Starlette(routes=[Route("/dispatch", dispatch, methods=["POST"])]),
    ml_app="shop-web",
    session_id=lambda scope: request_header(scope, "x-session-id"),
    response_headers=True,
)
