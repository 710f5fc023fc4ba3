"""An application calling a chat proxy service over HTTP, with the trace carried across.

The application (ml_app "my-ml-app") runs the workflow "run-chat"; its task "chat-proxy" POSTs
to the proxy with httpx, instrumented so the request carries the trace context. The task is
tagged ml-proxy:custom; the proxy's spans (examples/proxy/proxy.py) are recorded under
my-ml-app with service chat-proxy, as children of the task. Run the proxy first, then:

    LLMOBS_LOCAL_PATH=/tmp/proxy.db python examples/proxy/app.py http://127.0.0.1:8080
    LLMOBS_LOCAL_PATH=/tmp/proxy.db llmobs spans --tag ml-proxy:custom
    LLMOBS_LOCAL_PATH=/tmp/proxy.db llmobs spans --service chat-proxy
"""

from __future__ import annotations

import sys

import httpx

from llmobs_core import LLMObs
from llmobs_core.integrations import httpx as llmobs_httpx


def run_chat(client: httpx.Client, question: str, session_id: str) -> str:
    with LLMObs.workflow("run-chat", session_id=session_id):
        LLMObs.annotate(input_data=question)
        with LLMObs.task("chat-proxy"):
            messages = [{"role": "user", "content": question}]
            LLMObs.annotate(input_data=messages)
            response = client.post("/v1/chat/completions", json={"messages": messages})
            response.raise_for_status()
            answer = response.json()["choices"][0]["message"]["content"]
            LLMObs.annotate(output_data=answer)
        LLMObs.annotate(output_data=answer)
        return answer


def main(proxy_url: str) -> None:
    # The proxy is the only destination that gets the trace headers (and with them the
    # session id), and the only one whose calls tag the task ml-proxy:custom.
    LLMObs.enable(ml_app="my-ml-app", service="chat-app", instrumented_proxy_urls=[proxy_url])
    llmobs_httpx.instrument(propagate_to=[proxy_url])
    try:
        with httpx.Client(base_url=proxy_url, timeout=10.0) as client:
            print(run_chat(client, "What is the capital of France?", session_id="session-1"))
    finally:
        llmobs_httpx.uninstrument()
        LLMObs.disable()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
