"""The example assistant (examples/assistant.py) behind a small web front, so the demo's
traces start at an HTTP request.

The assistant's model is a local stand-in behind the OpenAI HTTP API, called with the real
`openai` client (examples/assistant.py), so its llm spans come from llmobs's OpenAI integration.
The front is a FastAPI app traced by LLMObsMiddleware: the ml_app is routed by path
(/support/chat, /sales/chat), the session id comes from the x-session-id header, and each
response names its span in a traceresponse header. The script serves it with uvicorn on a free
local port in a background thread, sends the demo's conversations to it with httpx, rates
each answer through /feedback (an evaluation joined to the request span that the response's
traceresponse header names), then stops the server.

Run it:   python examples/asgi/assistant_web.py     (then `llmobs traces`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant import CONVERSATIONS, handle_turn, local_model  # noqa: E402
from local_server import serve_in_background  # noqa: E402

from llmobs_core import LLMObs  # noqa: E402
from llmobs_starlette import LLMObsMiddleware, request_header, span_context  # noqa: E402
from llmobs_starlette.fastapi import RequestSpan  # noqa: E402

ASSISTANTS = {"support": "support-assistant", "sales": "sales-assistant"}


class Question(BaseModel):
    question: str


class Rating(BaseModel):
    traceresponse: str  # the header of the response rated
    helpful: bool


def assistant_for(scope: dict) -> str | None:
    return ASSISTANTS.get(scope["path"].strip("/").split("/")[0])


app = FastAPI()
app.add_middleware(LLMObsMiddleware, ml_app=assistant_for,
                   session_id=lambda scope: request_header(scope, "x-session-id"),
                   exclude=["/feedback"], response_headers=True)


@app.post("/{assistant}/chat")
def chat(assistant: str, body: Question, span: RequestSpan) -> dict:
    # A plain `def` endpoint runs in a worker thread; the request span goes with it.
    LLMObs.annotate(span, input_data=body.question, tags={"assistant": assistant})
    answer = handle_turn(body.question)
    LLMObs.annotate(span, output_data=answer)
    return {"answer": answer}


@app.post("/feedback")
async def feedback(rating: Rating) -> dict:
    rated = span_context(rating.traceresponse)
    if rated is None:
        raise HTTPException(400, "traceresponse is not a W3C traceresponse header value")
    LLMObs.submit_evaluation(rated, label="user_helpful", metric_type="boolean",
                             value=rating.helpful)
    return {"recorded": True}


def ask_everything(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for ml_app, session_id, questions in CONVERSATIONS:
            assistant = ml_app.removesuffix("-assistant")
            for question in questions:
                response = client.post(f"/{assistant}/chat", json={"question": question},
                                       headers={"x-session-id": session_id})
                response.raise_for_status()
                traceresponse = response.headers["traceresponse"]
                print(f"[{ml_app} {session_id}] {question}\n"
                      f"  -> {response.json()['answer']}\n"
                      f"  trace {span_context(traceresponse)['trace_id']}")
                client.post("/feedback", json={
                    "traceresponse": traceresponse,
                    "helpful": "failed" not in response.json()["answer"]})


def main() -> None:
    LLMObs.enable(ml_app="assistant-web", service="assistant-web", env="demo")
    with local_model():
        server, thread, url = serve_in_background(app)
        print(f"web front on {url}")
        try:
            ask_everything(url)
        finally:
            server.should_exit = True
            thread.join(10)
    LLMObs.flush()
    print(LLMObs.stats())


if __name__ == "__main__":
    main()
