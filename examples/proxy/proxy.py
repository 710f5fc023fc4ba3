"""A chat proxy service, traced as a proxy or gateway service: enabled with only a service name
("chat-proxy"), so its spans take the calling application's ml_app from the request headers.

A plain ASGI app with no framework: it reads the trace context from the request headers with
`distributed.context_from`, makes it the parent of its own spans, and answers with a stand-in
model (no network). Run it, then call it with examples/proxy/app.py:

    LLMOBS_LOCAL_PATH=/tmp/proxy.db uvicorn examples.proxy.proxy:app --port 8080
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from llmobs_core import LLMObs
from llmobs_core.propagation import HEADERS
from llmobs_core.propagation.spans import activate, context_from

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http" and scope["path"] == "/health":
        await respond(send, 200, {"status": "ok"})
    elif scope["type"] == "http" and scope["method"] == "POST":
        await chat(scope, receive, send)
    elif scope["type"] == "http":
        await respond(send, 405, {"error": "POST a chat request"})


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            LLMObs.enable(service="chat-proxy")  # no ml_app: the caller's is used
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            LLMObs.disable()  # delivers what was recorded
            await send({"type": "lifespan.shutdown.complete"})
            return


def trace_headers(scope: dict[str, Any]) -> Callable[[str], bytes | None]:
    """A getter over the ASGI header pairs (lowercase byte names) for the propagation headers."""
    found: dict[str, bytes] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key in HEADERS:
            found.setdefault(key, value)
    return found.get


async def chat(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    request = json.loads(await read_body(receive) or b"{}")
    messages = request.get("messages", [])
    with activate(context_from(trace_headers(scope))):
        with LLMObs.workflow("proxy-chat"):
            LLMObs.annotate(input_data=messages, metadata={"route": scope["path"]})
            answer = complete(messages)
            LLMObs.annotate(output_data=answer)
    await respond(send, 200, {"choices": [{"message": {"role": "assistant", "content": answer}}]})


def complete(messages: list[dict[str, str]]) -> str:
    """The upstream model call the proxy forwards to; a stand-in here."""
    with LLMObs.llm(model_name="stand-in-chat", model_provider="local", name="upstream-chat"):
        question = messages[-1]["content"] if messages else ""
        answer = f"Proxied answer to: {question}"
        LLMObs.annotate(input_data=messages,
                        output_data=[{"role": "assistant", "content": answer}],
                        metrics={"input_tokens": len(question.split()),
                                 "output_tokens": len(answer.split())})
        return answer


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
