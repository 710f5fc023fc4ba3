"""A FastAPI app traced by LLMObsMiddleware, with the request span as a dependency.

- `span: RequestSpan` (llmobs_starlette.fastapi) hands an endpoint its request span, so it
  annotates it or opens children without reaching for globals;
- every response names its span in a traceresponse header (W3C Trace Context), and /feedback
  takes it back to attach a user's rating to that response as an evaluation;
- a background task runs after the response, as a child of the request span.

Run it:   uvicorn examples.asgi.fastapi_app:app --port 8000
Then:     curl -i -X POST localhost:8000/chat -H 'content-type: application/json' \\
               -H 'x-session-id: s-1' -d '{"question": "How long do refunds take?"}'
          curl -X POST localhost:8000/feedback -H 'content-type: application/json' \\
               -d '{"traceresponse": "<the traceresponse header>", "helpful": true}'
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import BackgroundTasks, FastAPI, HTTPException
from pydantic import BaseModel

from llmobs_core import LLMObs
from llmobs_starlette import LLMObsMiddleware, request_header, span_context
from llmobs_starlette.fastapi import RequestSpan


class Question(BaseModel):
    question: str


class Answer(BaseModel):
    answer: str


class Feedback(BaseModel):
    traceresponse: str  # the header of the response rated
    helpful: bool


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    LLMObs.enable(ml_app="chat-api", service="fastapi-example")
    yield
    LLMObs.disable()


app = FastAPI(lifespan=lifespan)
app.add_middleware(LLMObsMiddleware, session_id=lambda scope: request_header(scope, "x-session-id"),
                   exclude=["/health", "/docs", "/openapi.json"], response_headers=True)


async def remember(question: str) -> None:
    with LLMObs.task(name="remember-question"):
        await asyncio.sleep(0.01)
        LLMObs.annotate(input_data=question)


@app.post("/chat")
async def chat(body: Question, span: RequestSpan, background: BackgroundTasks) -> Answer:
    LLMObs.annotate(span, input_data=body.question, tags={"endpoint": "chat"})
    with LLMObs.llm(model_name="stand-in-chat", model_provider="local", name="complete"):
        answer = f"You asked: {body.question}"
        LLMObs.annotate(input_data=[{"role": "user", "content": body.question}],
                        output_data=[{"role": "assistant", "content": answer}])
    LLMObs.annotate(span, output_data=answer)
    background.add_task(remember, body.question)
    return Answer(answer=answer)


@app.post("/feedback")
async def feedback(body: Feedback) -> dict:
    rated = span_context(body.traceresponse)
    if rated is None:
        raise HTTPException(400, "traceresponse is not a W3C traceresponse header value")
    LLMObs.submit_evaluation(rated, label="user_helpful", metric_type="boolean",
                             value=body.helpful)
    return {"recorded": True}


@app.get("/health")
async def health() -> dict:
    return {"ok": True}
