"""An ASGI app whose endpoint calls its model through the genuine openai client (base URL and
key from OPENAI_BASE_URL / OPENAI_API_KEY). Run under `llmobs-run uvicorn`, each request gives
a request span from LLMObsMiddleware with the auto-instrumented llm span inside."""

from __future__ import annotations

import openai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from llmobs_starlette import LLMObsMiddleware

client = openai.AsyncOpenAI(max_retries=0)


async def ask(request: Request) -> JSONResponse:
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "user", "content": request.query_params.get("q", "hello")}])
    return JSONResponse({"answer": completion.choices[0].message.content})


app = LLMObsMiddleware(Starlette(routes=[Route("/ask", ask)]))
