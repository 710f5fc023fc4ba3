"""examples/django_app runs as documented and records the request and the model call."""

from __future__ import annotations

import signal

import httpx

from tests.apps.django_project.harness import REPO_DIR, process_server


def test_the_one_file_example_records_a_request_span_with_its_llm_child():
    """Served by uvicorn as the example's docstring says, a request gives a workflow span named
    by its route under the example's ml_app, with the llm span of the model call inside it."""
    env = {"LLMOBS_EXPORTER": "console"}
    with process_server(env, app="app:application", app_dir=REPO_DIR / "examples" / "django_app",
                        probe="/ask") as (url, child):
        answer = httpx.get(url + "/ask", params={"q": "hi"}, timeout=10).json()
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=15)
    assert answer == {"answer": "HI"}
    lines = [line.split() for line in output.splitlines() if line.startswith("[llmobs]")]
    workflows = [line for line in lines if line[1:4] == ["workflow", "GET", "/ask"]]
    llm_calls = [line for line in lines if line[1:3] == ["llm", "complete"]]
    assert len(workflows) == 2 and len(llm_calls) == 2  # the readiness probe and the test
    workflow_ids = {field for line in workflows for field in line if field.startswith("span=")}
    assert {"span=" + line[-1].removeprefix("parent=") for line in llm_calls} == workflow_ids
    assert all("ml_app=django-example" in line for line in workflows)
