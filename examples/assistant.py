"""A small retrieval-augmented support assistant, instrumented with every llmobs span kind.

Everything is local and deterministic: a hashed bag-of-words embedding, an in-memory vector
index, and a rule-based stand-in for a chat model (stand_in_model) served behind the OpenAI
HTTP API by the fake model server (examples/fake_models), which the genuine `openai` client
calls. llmobs traces those calls on its own (its OpenAI integration): the llm spans are not
made by hand. Two ml_apps (a support and a sales assistant) answer questions in two user
sessions; one tool call fails on purpose, and each answer gets evaluations. Run it with
`make demo`, then look with `llmobs traces`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import openai
from fake_models import FakeModelServer
from openai.types.chat import ChatCompletionMessage

from llmobs_core import LLMObs
from llmobs_core.decorators import agent, embedding, retrieval, tool, workflow

DOCUMENTS = {
    "refunds": "Refunds are issued to the original card within 5 business days.",
    "shipping": "Standard shipping takes 3 to 7 days; express shipping takes 1 to 2 days.",
    "warranty": "Every device has a two-year warranty covering manufacturing defects.",
    "pricing": "The Pro plan costs 20 dollars a month; teams get 15 percent off.",
    "stores": "Our stores in Paris and Berlin open at 9 and close at 19.",
}
DIMENSIONS = 64


@embedding(model_name="hashed-bow-64", model_provider="local")
def embed(texts: list[str]) -> list[list[float]]:
    vectors = []
    for text in texts:
        vector = [0.0] * DIMENSIONS
        for word in re.findall(r"[a-z]+", text.lower()):
            vector[int(hashlib.blake2b(word.encode(), digest_size=2).hexdigest(), 16)
                   % DIMENSIONS] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vectors.append([v / norm for v in vector])
    LLMObs.annotate(output_data=f"{len(vectors)} vectors of {DIMENSIONS} dimensions")
    return vectors


INDEX = dict(zip(DOCUMENTS, embed(list(DOCUMENTS.values()))))


@retrieval
def search(query: str, top_k: int = 2) -> list[dict]:
    (query_vector,) = embed([query])
    scored = sorted(
        ((sum(a * b for a, b in zip(query_vector, vector)), doc_id)
         for doc_id, vector in INDEX.items()),
        reverse=True,
    )[:top_k]
    documents = [{"id": doc_id, "name": doc_id, "text": DOCUMENTS[doc_id],
                  "score": round(score, 3)} for score, doc_id in scored]
    LLMObs.annotate(input_data=query, output_data=documents)
    return documents


@tool
def store_hours(city: str) -> str:
    if city.lower() not in ("paris", "berlin"):
        raise LookupError(f"no store in {city}")
    return f"The {city.title()} store is open from 9 to 19."


@tool
def discount(price: float, percent: float) -> float:
    return round(price * (1 - percent / 100), 2)


TOOLS = {"store_hours": store_hours, "discount": discount}
TOOL_SPECS = [
    {"type": "function", "function": {
        "name": "store_hours", "description": "Opening hours of our store in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "discount", "description": "A price after a percentage off",
        "parameters": {"type": "object", "properties": {
            "price": {"type": "number"}, "percent": {"type": "number"}},
            "required": ["price", "percent"]}}},
]


def stand_in_model(body: dict) -> dict:
    """The local model's answer to a chat completion request (it runs in the fake model
    server): asks for a tool when one fits, else answers from the context it was given."""
    messages = body["messages"]
    last = messages[-1]
    question = last.get("content") or ""
    if last["role"] == "user" and (city := re.search(r"store in (\w+)", question)):
        return {"tool": {"name": "store_hours", "arguments": {"city": city.group(1)}}}
    if last["role"] == "user" and "team" in question and "pro" in question.lower():
        return {"tool": {"name": "discount", "arguments": {"price": 20, "percent": 15}}}
    tool_results = [m["content"] for m in messages if m["role"] == "tool"]
    context = messages[0]["content"].split("\n")[1]  # the best-matching document
    if not tool_results:
        return {"content": f"From our docs: {context}"}
    if tool_results[-1].replace(".", "", 1).isdigit():
        return {"content": f"That comes to {tool_results[-1]} dollars a month."}
    return {"content": tool_results[-1]}


@contextmanager
def local_model() -> Iterator[str]:
    """Serve the stand-in model on a free local port, behind the OpenAI HTTP API, and point
    OPENAI_BASE_URL at it (child processes, such as a Celery worker, inherit it)."""
    with FakeModelServer(chat_reply=stand_in_model) as server:
        os.environ["OPENAI_BASE_URL"] = server.url + "/openai/v1"
        yield os.environ["OPENAI_BASE_URL"]


@cache
def model_client() -> openai.OpenAI:
    """The real OpenAI client (one per process), talking to OPENAI_BASE_URL: llmobs traces its
    calls on its own."""
    return openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-local-demo"),
                         max_retries=0)


def chat(messages: list[dict]) -> ChatCompletionMessage:
    completion = model_client().chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=TOOL_SPECS, temperature=0)
    return completion.choices[0].message


@agent
def answer(question: str) -> str:
    documents = search(question)
    context = "\n".join(d["text"] for d in documents)
    messages: list[dict] = [{"role": "system", "content": f"Answer from this context:\n{context}"},
                            {"role": "user", "content": question}]
    reply = chat(messages)
    for call in reply.tool_calls or []:
        try:
            result = str(TOOLS[call.function.name](**json.loads(call.function.arguments)))
        except LookupError as exc:
            result = f"The tool failed: {exc}"
        messages += [reply.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": result}]
        reply = chat(messages)
    return reply.content or ""


@workflow
def handle_turn(question: str) -> str:
    # The decorator records {"question": ...} (ddtrace's shape); a session replay reads better
    # with the question itself as the turn's input.
    LLMObs.annotate(input_data=question)
    reply = answer(question)
    span = LLMObs.export_span()
    LLMObs.submit_evaluation(span, label="answer_length", metric_type="score",
                             value=float(len(reply.split())))
    grounded = "failed" not in reply
    LLMObs.submit_evaluation(span, label="grounded", metric_type="categorical",
                             value="grounded" if grounded else "ungrounded",
                             assessment="pass" if grounded else "fail")
    return reply


CONVERSATIONS = [
    ("support-assistant", "session-alice", ["How long do refunds take?",
                                            "Is there a store in Paris?",
                                            "Is there a store in Lyon?"]),
    ("sales-assistant", "session-bob", ["What does the Pro plan cost?",
                                        "What would a team pay for Pro?"]),
]


def main() -> None:
    LLMObs.enable(ml_app="support-assistant", service="assistant-demo", env="demo")
    with local_model():
        for ml_app, session_id, questions in CONVERSATIONS:
            for question in questions:
                with LLMObs.workflow(name="conversation-turn", session_id=session_id,
                                     ml_app=ml_app):
                    print(f"[{ml_app} {session_id}] {question}\n  -> {handle_turn(question)}")
    LLMObs.flush()
    print(LLMObs.stats())


if __name__ == "__main__":
    main()
