"""The `llmobs-run` launcher for real: the seed quickstart's script, unchanged, under the seed's
variables; `--info`; a program's own sitecustomize; a uvicorn server and a Celery worker (Redis
broker, prefork child) under the launcher. Each asserts what reached the local store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from llmobs_core.store.queries import list_spans

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LAUNCHER = str(BIN / "llmobs-run")
REDIS = ("127.0.0.1", 6379)
pytestmark = pytest.mark.usefixtures("redis_leftovers_closed")  # the Celery test


def _env(fake_models, store: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DD_", "LLMOBS_", "OTEL_", "OPENAI_"))}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(REPO),
               OPENAI_BASE_URL=fake_models.url + "/openai/v1", OPENAI_API_KEY="sk-fake",
               LLMOBS_LOCAL_PATH=str(store), **extra)
    return env


def _wait_for_spans(store: Path, count: int, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        spans = ([row["event"] for row in list_spans(store, limit=50)] if store.exists()
                 else [])
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def test_seed_quickstart_runs_unchanged_under_llmobs_run(fake_models, tmp_path):
    """`DD_LLMOBS_ENABLED=1 DD_LLMOBS_ML_APP=onboarding-quickstart llmobs-run python
    quickstart.py` stores the script's OpenAI call as an llm span with its messages, model,
    provider and token counts."""
    store = tmp_path / "traces.db"
    env = _env(fake_models, store, DD_LLMOBS_ENABLED="1",
               DD_LLMOBS_ML_APP="onboarding-quickstart")
    subprocess.run([LAUNCHER, "python", str(REPO / "tests" / "apps" / "quickstart.py")],
                   env=env, cwd=tmp_path, check=True, timeout=60)
    [span] = [row["event"] for row in list_spans(store)]
    assert span["name"] == "OpenAI.createChatCompletion"
    assert "ml_app:onboarding-quickstart" in span["tags"]
    meta = span["meta"]
    assert (meta["span"]["kind"], meta["model_name"], meta["model_provider"]) == (
        "llm", "gpt-3.5-turbo-2024-07-18", "openai")
    assert [m["role"] for m in meta["input"]["messages"]] == ["system", "user"]
    assert meta["output"]["messages"][0]["content"].startswith("Fake answer to: I'd like")
    assert span["metrics"]["input_tokens"] > 0 and span["metrics"]["output_tokens"] > 0


def test_info_prints_the_configuration_without_the_key(fake_models, tmp_path):
    """--info names the sinks, ml_app and each integration's library, runs nothing, and shows
    whether an API key is set, never the key."""
    env = _env(fake_models, tmp_path / "t.db", DD_LLMOBS_ML_APP="shop", DD_API_KEY="s3cr3t-key",
               DD_LLMOBS_AGENTLESS_ENABLED="1", DD_TRACE_ANTHROPIC_ENABLED="false")
    out = subprocess.run([LAUNCHER, "--info"], env=env, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    assert "ml_app:       shop" in out and "sinks:        datadog" in out
    assert "API key set" in out and "s3cr3t" not in out
    assert "openai     on  (openai " in out and "anthropic  off" in out


def test_the_programs_own_sitecustomize_still_runs(fake_models, tmp_path):
    """A sitecustomize of the program's own, further on PYTHONPATH, runs after llmobs's."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['OWN_SITE'] = 'ran'\n")
    env = _env(fake_models, tmp_path / "t.db")
    env["PYTHONPATH"] = f"{site}{os.pathsep}{REPO}"
    out = subprocess.run([LAUNCHER, "python", "-c", "import os; from llmobs_core import LLMObs;"
                          " print(os.environ.get('OWN_SITE'), LLMObs.enabled())"],
                         env=env, capture_output=True, text=True, check=True, timeout=30)
    assert out.stdout.split() == ["ran", "True"]


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as output:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_uvicorn_under_llmobs_run(fake_models, tmp_path):
    """`llmobs-run uvicorn`: each request is a request span from LLMObsMiddleware, and the
    endpoint's OpenAI call an auto llm span inside it."""
    store, port = tmp_path / "traces.db", _free_port()
    env = _env(fake_models, store, DD_LLMOBS_ML_APP="web")
    command = [LAUNCHER, "uvicorn", "tests.apps.llm_web:app", "--port", str(port),
               "--log-level", "warning"]
    with _process(command, env, tmp_path / "uvicorn.log"):
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/ask", params={"q": "a chair?"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "uvicorn.log").read_text()
                time.sleep(0.2)
    assert answer.json() == {"answer": "Fake answer to: a chair?"}
    spans = _wait_for_spans(store, 2)
    llm = next(span for span in spans if span["name"] == "OpenAI.createChatCompletion")
    request = next(span for span in spans if span is not llm)
    assert llm["parent_id"] == request["span_id"] and llm["trace_id"] == request["trace_id"]
    assert "ml_app:web" in llm["tags"]


def test_celery_worker_under_llmobs_run(fake_models, tmp_path):
    """`llmobs-run celery worker` (prefork, Redis broker): the task's OpenAI call is an auto
    llm span inside the task span, recorded by the forked child that ran it."""
    with socket.socket() as probe:
        reachable = probe.connect_ex(REDIS) == 0
    if not reachable:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    from tests.apps import llm_worker

    store, queue = tmp_path / "traces.db", f"llm-{uuid.uuid4().hex[:10]}"
    broker = "redis://127.0.0.1:6379/13"
    env = _env(fake_models, store, DD_LLMOBS_ML_APP="worker", LLMOBS_TEST_BROKER=broker,
               LLMOBS_TEST_QUEUE=queue)
    command = [LAUNCHER, "celery", "-A", "tests.apps.llm_worker", "worker", "--pool=prefork",
               "--concurrency=1", "--loglevel=warning", "-Q", queue]
    with _process(command, env, tmp_path / "worker.log"):
        sender = llm_worker.app
        sender.conf.broker_url = broker
        with sender.connection_for_write() as connection:
            sender.send_task("ask", args=["which sofa?"], queue=queue, connection=connection)
            connection.release()
        spans = _wait_for_spans(store, 2, timeout=30)
    assert len(spans) >= 2, (tmp_path / "worker.log").read_text()
    llm = next(span for span in spans if span["name"] == "OpenAI.createChatCompletion")
    task = next(span for span in spans if span["span_id"] == llm["parent_id"])
    assert task["meta"]["span"]["kind"] in ("task", "workflow")
    assert llm["meta"]["output"]["messages"][0]["content"] == "Fake answer to: which sofa?"
