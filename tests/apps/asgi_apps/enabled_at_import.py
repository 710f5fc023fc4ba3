"""An app that enables llmobs at import and never disables it: what it holds when uvicorn is
stopped by SIGTERM is saved only by llmobs's SIGTERM drain."""

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from llmobs_core import LLMObs
from llmobs_starlette import LLMObsMiddleware

LLMObs.enable(ml_app="sigterm-app")


async def hello(request):
    with LLMObs.task("inner-task"):
        return PlainTextResponse("hello")


app = Starlette(routes=[Route("/", hello), Route("/hello", hello)])
app.add_middleware(LLMObsMiddleware)
