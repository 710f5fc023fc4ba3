"""The example assistant with its slow step on a Celery worker: one trace per question crosses
the web server and the worker.

A Starlette web front, traced by LLMObsMiddleware, takes each question and hands the slow part
(retrieval, the model, tools: examples/assistant.py's handle_turn) to a Celery task, then waits
for its answer. llmobs_celery carries the request's trace, ml_app and session id in the task
message, so the worker's spans land under the request span in the same trace.

Nothing to install or start: the broker is kombu's filesystem transport and results go to
files, both under .llmobs/celery-demo/. The assistant's model (a local stand-in behind the
OpenAI HTTP API, served by this script) is called from the worker with the real `openai`
client, and llmobs's OpenAI integration traces those calls inside the task's span.
LLMOBS_DEMO_BROKER and LLMOBS_DEMO_BACKEND point it at a real broker instead
(redis://127.0.0.1:6379/0, amqp://guest:guest@127.0.0.1:5672//). The script starts the worker
(a prefork `celery worker`, two children), serves the front on a free local port, asks the
demo's questions, then stops both; a warm shutdown drains the worker's spans.

Run it:   python examples/celery_demo.py      (then `llmobs traces`)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from celery import Celery
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

from assistant import CONVERSATIONS, handle_turn, local_model  # noqa: E402
from local_server import serve_in_background  # noqa: E402

import llmobs_celery  # noqa: E402
from llmobs_core import LLMObs  # noqa: E402
from llmobs_starlette import LLMObsMiddleware, request_header, span_context  # noqa: E402

SLOW_STEP_S = 0.3  # stands for the slow part of real work
FOLDER = Path(os.environ.get("LLMOBS_CELERY_DEMO_DIR", ".llmobs/celery-demo")).absolute()
ASSISTANTS = {"support": "support-assistant", "sales": "sales-assistant"}


def make_celery() -> Celery:
    broker = os.environ.get("LLMOBS_DEMO_BROKER", "filesystem://")
    backend = os.environ.get("LLMOBS_DEMO_BACKEND", f"file://{FOLDER / 'results'}")
    app = Celery("assistant-demo", broker=broker, backend=backend)
    app.conf.update(broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1,
                    task_default_queue="llmobs-assistant-demo")
    if broker.startswith("filesystem://"):
        messages = str(FOLDER / "messages")
        app.conf.broker_transport_options = {
            "data_folder_in": messages, "data_folder_out": messages,
            "control_folder": str(FOLDER / "control"), "polling_interval": 0.05}
    return app


celery_app = make_celery()


@celery_app.task(name="assistant.answer")
def answer_in_worker(question: str) -> str:
    """The slow step, run by the worker: its spans are children of this task's span."""
    time.sleep(SLOW_STEP_S)
    return handle_turn(question)


def chat(request: Request) -> JSONResponse:
    """A sync endpoint (run in a worker thread, where the request span is still active): it
    publishes the slow step and waits for the worker's answer."""
    question = request.query_params["q"]
    LLMObs.annotate(input_data=question)
    answer = answer_in_worker.delay(question).get(timeout=60, interval=0.05)
    LLMObs.annotate(output_data=answer)
    return JSONResponse({"answer": answer})


web_front = LLMObsMiddleware(
    Starlette(routes=[Route("/{assistant}/chat", chat, methods=["POST"])]),
    ml_app=lambda scope: ASSISTANTS.get(scope["path"].strip("/").split("/")[0]),
    session_id=lambda scope: request_header(scope, "x-session-id"),
    response_headers=True,  # the traceresponse header the client rates the answer with
)


def run_worker() -> None:
    """`python examples/celery_demo.py worker`: the Celery worker process."""
    LLMObs.enable(ml_app="assistant-worker", service="assistant-worker", env="demo")
    llmobs_celery.install(celery_app, capture_input=True, capture_output=True)
    celery_app.worker_main(["worker", "-c", "2", "-l", "warning", "--without-heartbeat",
                            "--without-gossip", "--without-mingle"])


def ask_everything(url: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for ml_app, session_id, questions in CONVERSATIONS:
            assistant = ml_app.removesuffix("-assistant")
            for question in questions:
                response = client.post(f"/{assistant}/chat", params={"q": question},
                                       headers={"x-session-id": session_id})
                response.raise_for_status()
                print(f"[{ml_app} {session_id}] {question}\n"
                      f"  -> {response.json()['answer']}\n"
                      f"  trace {span_context(response.headers['traceresponse'])['trace_id']}")


def stop_worker(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)  # warm shutdown: the children drain their spans
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(10)


def main() -> None:
    shutil.rmtree(FOLDER, ignore_errors=True)
    for folder in ("messages", "control", "results"):
        (FOLDER / folder).mkdir(parents=True)
    with local_model():  # before the worker starts: it inherits OPENAI_BASE_URL
        worker = subprocess.Popen([sys.executable, __file__, "worker"])
        LLMObs.enable(ml_app="assistant-web", service="assistant-web", env="demo")
        llmobs_celery.install(celery_app)
        server, thread, url = serve_in_background(web_front)
        print(f"web front on {url}, Celery worker pid {worker.pid}")
        try:
            ask_everything(url)
        finally:
            server.should_exit = True
            thread.join(10)
            stop_worker(worker)
    LLMObs.flush()
    print(LLMObs.stats())

if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        run_worker()
    else:
        main()
