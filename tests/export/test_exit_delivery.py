"""Every sink delivers at exit: a short script that records one span and one evaluation and
exits without calling LLMObs.flush() has both delivered by the exit drain, through the local
store (also with a backlog that outlasts its first checkpoint), Datadog (to the fake intake),
OTLP (to a local receiver and to Arize Phoenix) and the console, with nothing reported on
stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from llmobs_core.store.queries import list_evals, list_spans
from tests.support.fake_intake import FakeIntake
from tests.support.fake_otlp import FakeOTLPReceiver
from tests.support.phoenix import phoenix_spans

_SCRIPT = """
import json
from llmobs_core import LLMObs
LLMObs.enable()
with LLMObs.task("last-words") as span:
    pass
LLMObs.submit_evaluation(LLMObs.export_span(span), label="kept", metric_type="score",
                         value=1.0)
print(json.dumps(LLMObs.export_span(span)), flush=True)
"""


def run_script(tmp_path: Path, **settings: str) -> tuple[dict, str]:
    """Runs the script with only `settings` configuring llmobs; returns the span's ids and
    the script's whole stdout, once it has exited with nothing on stderr."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("DD_", "OTEL_", "LLMOBS_"))}
    environment.update(LLMOBS_LOCAL_PATH=str(tmp_path / "traces.db"), **settings)
    run = subprocess.run([sys.executable, "-c", _SCRIPT], env=environment, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stderr) == (0, "")
    (ids,) = [line for line in run.stdout.splitlines() if line.startswith("{")]
    return json.loads(ids), run.stdout


def test_the_local_store(tmp_path) -> None:
    """The default sink: the span and the evaluation are in the store after the exit."""
    ids, _ = run_script(tmp_path, DD_LLMOBS_ML_APP="exit-check")
    (span,) = list_spans(tmp_path / "traces.db")
    (evaluation,) = list_evals(tmp_path / "traces.db")
    assert (span["span_id"], span["name"]) == (ids["span_id"], "last-words")
    assert evaluation["join_on"]["span"] == ids and evaluation["label"] == "kept"


_BACKLOG = """
from llmobs_core import LLMObs
LLMObs.enable(ml_app="exit-check", shutdown_timeout=30)
for index in range(5_000):
    with LLMObs.task(f"task-{index}"):
        LLMObs.annotate(input_data="x" * 4096)
"""


def test_the_local_store_with_a_backlog_past_the_first_checkpoint(tmp_path) -> None:
    """20 MB left for the exit drain are all stored, though the store's first checkpoint falls
    in the drain (Python 3.12 starts no new thread then: it runs on the writer's thread)."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("DD_", "OTEL_", "LLMOBS_"))}
    environment["LLMOBS_LOCAL_PATH"] = str(tmp_path / "traces.db")
    run = subprocess.run([sys.executable, "-c", _BACKLOG], env=environment, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stderr) == (0, "")
    assert len(list_spans(tmp_path / "traces.db", limit=10_000)) == 5_000


def test_datadog_agentless(tmp_path) -> None:
    """The Datadog intake receives the span and the evaluation, well formed."""
    with FakeIntake(mode="agentless", api_key="exit-key") as intake:
        ids, _ = run_script(tmp_path, DD_LLMOBS_ML_APP="exit-check",
                            DD_LLMOBS_AGENTLESS_ENABLED="true", DD_API_KEY="exit-key",
                            DD_LLMOBS_OVERRIDE_ORIGIN=intake.url)
    assert intake.problems == []
    assert [(s["span_id"], s["name"]) for s in intake.spans] == [(ids["span_id"], "last-words")]
    assert [e["join_on"]["span"] for e in intake.evaluations] == [ids]


def test_otlp_to_a_local_receiver(tmp_path) -> None:
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, the span and its evaluation (as an EVALUATOR
    span) arrive with the resource that names the ml_app."""
    with FakeOTLPReceiver() as receiver:
        ids, _ = run_script(tmp_path, DD_LLMOBS_ML_APP="exit-check",
                            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
        assert receiver.wait_for_spans(2)
    spans = {span["name"]: span for span in receiver.spans}
    assert sorted(spans) == ["evaluation:kept", "last-words"]
    assert spans["last-words"]["span_id"] == int(ids["span_id"])
    assert spans["evaluation:kept"]["parent_id"] == int(ids["span_id"])
    assert spans["last-words"]["resource"]["service.name"] == "exit-check"
    assert spans["last-words"]["resource"]["openinference.project.name"] == "exit-check"


def test_otlp_to_phoenix(phoenix, tmp_path) -> None:
    """Against the real Phoenix receiver, both spans are queryable in the ml_app's project."""
    project = f"exit-check-{uuid.uuid4().hex[:8]}"
    ids, _ = run_script(tmp_path, DD_LLMOBS_ML_APP=project, OTEL_EXPORTER_OTLP_ENDPOINT=phoenix)
    spans = phoenix_spans(phoenix, project, 2)
    assert sorted(span["name"] for span in spans) == ["evaluation:kept", "last-words"]
    (span,) = [span for span in spans if span["name"] == "last-words"]
    assert span["context"]["span_id"] == f"{int(ids['span_id']):016x}"


def test_the_console(tmp_path) -> None:
    """LLMOBS_EXPORTER=console prints the span and the evaluation before the process ends."""
    ids, stdout = run_script(tmp_path, DD_LLMOBS_ML_APP="exit-check", LLMOBS_EXPORTER="console")
    (line,) = [line for line in stdout.splitlines() if "last-words" in line]
    assert f"span={ids['span_id']}" in line and "ml_app=exit-check" in line
    assert "evaluation kept=1.0" in stdout



_NO_THREAD_AT_EXIT = """
import atexit, threading
from llmobs_core import LLMObs
LLMObs.enable(ml_app="exit-check")
start = threading.Thread.start

def refused_at_exit(thread):  # what Python 3.12+ does for a thread started at shutdown
    raise RuntimeError("can't create new thread at interpreter shutdown")

def last_words():
    threading.Thread.start = refused_at_exit
    with LLMObs.task("from-atexit"):
        pass

atexit.register(last_words)  # runs before llmobs's own drain, which was registered first
"""


def test_a_span_finished_where_no_thread_can_start(tmp_path) -> None:
    """A span that ends in an atexit handler, when the interpreter refuses new threads (as
    Python 3.12 does at shutdown), is delivered by the exit drain on its own thread and
    raises nothing into the host's handler."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("DD_", "OTEL_", "LLMOBS_"))}
    environment["LLMOBS_LOCAL_PATH"] = str(tmp_path / "traces.db")
    run = subprocess.run([sys.executable, "-c", _NO_THREAD_AT_EXIT], env=environment,
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stderr) == (0, "")
    (span,) = list_spans(tmp_path / "traces.db")
    assert span["name"] == "from-atexit"
