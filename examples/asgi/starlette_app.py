"""A Starlette app traced by LLMObsMiddleware, one request span per request.

It shows the middleware's options and the Starlette helpers:
- ml_app routed per request by path prefix (/support/..., /sales/...), the session id read
  from the x-session-id header with `request_header`;
- `request.state.llmobs_span` in an endpoint, `current_span()` in code that has no request;
- a server-sent events stream whose span ends after the last event, a websocket, an excluded
  health check.

Run it:   uvicorn examples.asgi.starlette_app:app --port 8000
Then:     curl -H 'x-session-id: s-1' 'localhost:8000/support/ask?q=refunds'
          curl -N 'localhost:8000/sales/stream?q=pricing'
          llmobs traces
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from llmobs_core import LLMObs
from llmobs_starlette import LLMObsMiddleware, current_span, request_header

ASSISTANTS = {"/support/": "support-assistant", "/sales/": "sales-assistant"}


def ml_app_for(scope: dict) -> str | None:
    """Per-request routing: None lets a caller's propagated ml_app (or the configured one)
    apply."""
    for prefix, ml_app in ASSISTANTS.items():
        if scope["path"].startswith(prefix):
            return ml_app
    return None


def session_for(scope: dict) -> str | None:
    return request_header(scope, "x-session-id")


async def complete(question: str) -> str:
    """A stand-in for a model call; its llm span is a child of the request span."""
    with LLMObs.llm(model_name="stand-in-chat", model_provider="local", name="complete"):
        await asyncio.sleep(0.01)
        answer = f"About {question or 'that'}: see the help centre."
        LLMObs.annotate(input_data=[{"role": "user", "content": question}],
                        output_data=[{"role": "assistant", "content": answer}])
        # current_span() is the request's span even while this llm span is the active one.
        LLMObs.annotate(current_span(), metadata={"model_calls": 1})
        return answer


async def ask(request: Request) -> JSONResponse:
    span = request.state.llmobs_span
    question = request.query_params.get("q", "")
    LLMObs.annotate(span, input_data=question)
    answer = await complete(question)
    LLMObs.annotate(span, output_data=answer)
    return JSONResponse({"answer": answer})


async def stream(request: Request) -> StreamingResponse:
    question = request.query_params.get("q", "")
    LLMObs.annotate(request.state.llmobs_span, input_data=question)

    async def events() -> AsyncIterator[str]:
        words = (await complete(question)).split()
        for word in words:
            await asyncio.sleep(0.02)
            yield f"data: {word}\n\n"
        LLMObs.annotate(current_span(), output_data=" ".join(words))
        yield "event: done\ndata: \n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        LLMObs.annotate(websocket.state.llmobs_span, input_data=text)
        await websocket.send_text(f"echo: {text}")


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    LLMObs.enable(ml_app="assistant-gateway", service="starlette-example")
    yield
    LLMObs.disable()


app = Starlette(
    routes=[
        Route("/support/ask", ask), Route("/sales/ask", ask),
        Route("/support/stream", stream), Route("/sales/stream", stream),
        WebSocketRoute("/ws", echo), Route("/health", health),
    ],
    middleware=[Middleware(LLMObsMiddleware, ml_app=ml_app_for, session_id=session_for,
                           exclude=["/health"])],
    lifespan=lifespan,
)
