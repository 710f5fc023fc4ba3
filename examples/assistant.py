"""A small retrieval-augmented support assistant, instrumented with every llmobs span kind.

Everything is local and deterministic: a hashed bag-of-words embedding, an in-memory vector
index and a rule-based stand-in for a chat model. Two ml_apps (a support and a sales
assistant) answer questions in two user sessions; one tool call fails on purpose, and each
answer gets evaluations. Run it with `make demo`, then look with `llmobs traces`.
"""

from __future__ import annotations

import hashlib
import math
import re

from llmobs_core import LLMObs
from llmobs_core.decorators import agent, embedding, llm, retrieval, tool, workflow

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


@llm(model_name="stand-in-chat", model_provider="local", capture_input=False,
     capture_output=False)
def chat(messages: list[dict], temperature: float = 0.0) -> dict:
    """A deterministic stand-in for a chat model: asks for a tool when one fits, else answers
    from the context it was given."""
    question = messages[-1]["content"]
    if messages[-1]["role"] == "user" and (city := re.search(r"store in (\w+)", question)):
        reply = {"role": "assistant", "content": "",
                 "tool_calls": [{"name": "store_hours", "arguments": {"city": city.group(1)},
                                 "tool_id": "call-1", "type": "function"}]}
    elif messages[-1]["role"] == "user" and "team" in question and "pro" in question.lower():
        reply = {"role": "assistant", "content": "",
                 "tool_calls": [{"name": "discount", "arguments": {"price": 20, "percent": 15},
                                 "tool_id": "call-2", "type": "function"}]}
    else:
        tool_results = [m["content"] for m in messages if m["role"] == "tool"]
        context = messages[0]["content"].split("\n")[1]  # the best-matching document
        if not tool_results:
            content = f"From our docs: {context}"
        elif tool_results[-1].replace(".", "", 1).isdigit():
            content = f"That comes to {tool_results[-1]} dollars a month."
        else:
            content = tool_results[-1]
        reply = {"role": "assistant", "content": content}
    input_tokens = sum(len(m["content"].split()) for m in messages)
    output_tokens = len(reply["content"].split()) or 8
    LLMObs.annotate(input_data=messages, output_data=reply,
                    metadata={"temperature": temperature},
                    metrics={"input_tokens": input_tokens, "output_tokens": output_tokens,
                             "total_tokens": input_tokens + output_tokens})
    return reply


TOOLS = {"store_hours": store_hours, "discount": discount}


@agent
def answer(question: str) -> str:
    documents = search(question)
    context = "\n".join(d["text"] for d in documents)
    messages = [{"role": "system", "content": f"Answer from this context:\n{context}"},
                {"role": "user", "content": question}]
    reply = chat(messages)
    for call in reply.get("tool_calls", []):
        try:
            result = str(TOOLS[call["name"]](**call["arguments"]))
        except LookupError as exc:
            result = f"The tool failed: {exc}"
        messages += [reply, {"role": "tool", "content": result}]
        reply = chat(messages)
    return reply["content"]


@workflow
def handle_turn(question: str) -> str:
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
    for ml_app, session_id, questions in CONVERSATIONS:
        for question in questions:
            with LLMObs.workflow(name="conversation-turn", session_id=session_id,
                                 ml_app=ml_app):
                print(f"[{ml_app} {session_id}] {question}\n  -> {handle_turn(question)}")
    LLMObs.flush()
    print(LLMObs.stats())


if __name__ == "__main__":
    main()
