"""The Celery demo runs on a fresh machine (filesystem broker, no service) and gives, for each
question, one trace that crosses the web front and the worker."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.apps.celery_app.harness import REPO, create_store, private_folder, stored_spans, task_id


def test_the_demo_gives_one_trace_per_question_across_web_front_and_worker() -> None:
    """Each of the demo's five questions is a request span whose child is the worker's task
    span, whose child is the assistant's workflow, all in one trace and session."""
    with private_folder() as folder:
        store = folder / "traces.db"
        create_store(store)
        env = {**os.environ, "LLMOBS_LOCAL_PATH": str(store),
               "LLMOBS_CELERY_DEMO_DIR": str(folder / "celery")}
        for name in ("LLMOBS_DEMO_BROKER", "LLMOBS_DEMO_BACKEND", "DD_LLMOBS_ENABLED"):
            env.pop(name, None)
        done = subprocess.run([sys.executable, "examples/celery_demo.py"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "llmobs: " not in done.stdout + done.stderr
        spans = stored_spans(store)
    by_id = {span["span_id"]: span for span in spans}
    tasks = [span for span in spans if task_id(span) is not None]
    assert len(tasks) == 5
    for task in tasks:
        request = by_id[task["parent_id"]]
        assert request["name"] == "POST /{assistant}/chat"
        assert request["parent_id"] == "undefined"
        assert task["trace_id"] == request["trace_id"]
        assert task["session_id"] == request["session_id"] is not None
        (turn,) = [s for s in spans if s["parent_id"] == task["span_id"]]
        assert turn["name"] == "handle_turn"
