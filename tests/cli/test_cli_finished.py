"""The command line's finishing touches: llmobs apps, suggestions for filters that match
nothing, trace ids by their low 64 bits, what show draws of llm spans and of a trace whose
parent span is elsewhere, the HTML export and the `llmobs ui` server."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import httpx

from llmobs_core.export.local import LocalStoreSink
from llmobs_core.store import summary_index, text_index
from tests.cli.test_cli import json_lines, run, span_event, store, trace_id_at  # noqa: F401

LLMOBS = Path(sys.executable).parent / "llmobs"


def test_every_command_names_its_store(store: dict) -> None:  # noqa: F811
    """Each command says on stderr which store it reads."""
    for command in (["traces"], ["spans"], ["evals"], ["apps"], ["show", store["shop"]]):
        assert f"Store: {store['path']}" in run(store["path"], *command).stderr


def test_apps_lists_values_with_trace_counts(store: dict) -> None:  # noqa: F811
    """apps lists ml_apps, services, sessions and models, most traces first."""
    rows = json_lines(run(store["path"], "apps", "--json").stdout)
    counts = {(row["key"], row["value"]): row["traces"] for row in rows}
    assert counts[("ml_app", "shop")] == 2 and counts[("ml_app", "support")] == 1
    assert counts[("service", "chat-proxy")] == 1 and counts[("session_id", "s-1")] == 1
    assert counts[("model", "gpt-4o-mini")] == 1
    table = run(store["path"], "apps").stdout
    assert "ML apps" in table and "Sessions" in table and "chat-api" in table


def test_a_filter_that_matches_nothing_suggests_stored_values(store: dict,  # noqa: F811
                                                              ) -> None:
    """A misspelt ml_app, service or tag gets the nearest stored values."""
    result = run(store["path"], "traces", "--ml-app", "shpo", "--service", "chat_api")
    assert "--ml-app shpo: no such value; did you mean shop" in result.stderr
    assert "--service chat_api: no such value; did you mean chat-api" in result.stderr
    tagged = run(store["path"], "spans", "--tag", "ml-proxi:custom")
    assert "--tag ml-proxi:custom: no such tag key; did you mean ml-proxy?" in tagged.stderr
    valued = run(store["path"], "traces", "--tag", "ml-proxy:costum")
    assert "did you mean custom?" in valued.stderr


def test_show_finds_a_trace_by_its_low_64_bits(store: dict) -> None:  # noqa: F811
    """show takes the random low half of a trace id, as hex or as Datadog's decimal."""
    low = store["proxy"][16:]
    for given in (low, str(int(low, 16))):
        result = run(store["path"], "show", given, "--json")
        assert result.exit_code == 0, result.output
        assert {row["trace_id"] for row in json_lines(result.stdout)} == {store["proxy"]}


def test_show_lists_only_a_recorded_llm_spans_own_tags(tmp_path: Path) -> None:
    """Of an llm span the tracer recorded, show lists the tags the application gave it, not
    those every span carries (agent_service repeats the ml_app, as ddtrace writes it)."""
    from llmobs_core import LLMObs

    path = tmp_path / "traces.db"
    LLMObs.enable(ml_app="shop", service="api", exporter=LocalStoreSink(path))
    try:
        with LLMObs.llm(model_name="m", name="chat") as span:
            LLMObs.annotate(span, input_data="hi", tags={"team": "search"})
        trace_id = LLMObs.export_span(span)["trace_id"]
    finally:
        LLMObs.disable()
    output = run(path, "show", trace_id).stdout
    assert "tags: team:search" in output
    assert "agent_service" not in output and "ml_app:" not in output


def test_show_draws_the_tags_and_metadata_of_spans_of_every_kind(tmp_path: Path) -> None:
    """A workflow's and a tool's own tags and metadata are drawn as an llm span's are (a
    request span's http tags were seen only with --json), each tag shortened on its own."""
    from llmobs_core import LLMObs

    path = tmp_path / "traces.db"
    LLMObs.enable(ml_app="shop", service="api", exporter=LocalStoreSink(path))
    try:
        with LLMObs.workflow(name="GET /items/{item_id}") as request:
            LLMObs.annotate(request, tags={"team": "search-" + "x" * 100,
                                           "http.route": "/items/{item_id}",
                                           "http.status_code": "200"},
                            metadata={"cache": "hit"})
            with LLMObs.tool(name="lookup") as tool:
                LLMObs.annotate(tool, tags={"db": "primary"})
        trace_id = LLMObs.export_span(request)["trace_id"]
    finally:
        LLMObs.disable()
    output = run(path, "show", trace_id).stdout
    assert "http.route:/items/{item_id} http.status_code:200" in output  # after a long tag
    assert 'metadata: {"cache": "hit"}' in output
    assert "tags: db:primary" in output
    assert "agent_service" not in output and "ml_app:" not in output


def test_show_says_how_many_tags_it_leaves_out(tmp_path: Path) -> None:
    """Tags beyond three previews' width are counted, not drawn."""
    now = time.time_ns()
    trace_id = trace_id_at(now)
    tags = tuple(f"key{index:02}:value{index:02}" for index in range(40))
    path = tmp_path / "traces.db"
    LocalStoreSink(path).send_spans([span_event(trace_id, name="many", kind="task", service="api",
                                                ml_app="shop", start_ns=now, tags=tags)])
    output = run(path, "show", trace_id).stdout
    drawn = [tag for tag in tags if tag in output]
    assert drawn == list(tags[:len(drawn)]) and 5 < len(drawn) < 40
    assert f"(+{40 - len(drawn)} more)" in output


def test_show_draws_model_metrics_metadata_and_tags_of_llm_spans(tmp_path: Path) -> None:
    """An llm span shows its model and provider, token metrics, metadata and own tags; a plain
    string input has no empty role before it."""
    now = time.time_ns()
    trace_id = trace_id_at(now)
    chat = span_event(trace_id, name="chat", kind="llm", ml_app="shop", service="api",
                      start_ns=now, tags=("team:search",))
    chat["meta"]["metadata"] = {"temperature": 0.2}
    chat["meta"]["input"] = {"messages": [{"content": "plain question"}]}
    chat["metrics"] = {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
    path = tmp_path / "traces.db"
    LocalStoreSink(path).send_spans([chat])
    output = run(path, "show", trace_id).stdout
    assert "model: gpt-4o-mini (openai)" in output
    assert "metrics: input=12 output=3 total=15" in output
    assert 'metadata: {"temperature": 0.2}' in output
    assert "tags: team:search" in output and "env:test" not in output
    assert "in: plain question" in output


def test_show_previews_a_tool_result_message(tmp_path: Path) -> None:
    """An llm span whose last input message is a tool result shows the result, not an empty
    role."""
    now = time.time_ns()
    trace_id = trace_id_at(now)
    chat = span_event(trace_id, name="chat", kind="llm", ml_app="shop", service="api",
                      start_ns=now)
    chat["meta"]["input"] = {"messages": [
        {"role": "tool", "content": "", "tool_results": [{"result": "17.0", "tool_id": "t1"}]}]}
    path = tmp_path / "traces.db"
    LocalStoreSink(path).send_spans([chat])
    assert "in: tool: 17.0" in run(path, "show", trace_id).stdout


def test_show_says_when_a_parent_span_is_not_in_the_store(tmp_path: Path) -> None:
    """A span whose parent was stored elsewhere is drawn as a root, and the tree says why."""
    now = time.time_ns()
    trace_id = trace_id_at(now)
    worker = span_event(trace_id, parent_id="12345", name="task_in_worker", kind="task",
                        ml_app="shop", service="worker", start_ns=now)
    path = tmp_path / "traces.db"
    LocalStoreSink(path).send_spans([worker])
    output = run(path, "show", trace_id).stdout
    assert "(1 span whose parent is not in this store" in output
    assert "(parent span 12345 is not in this store)" in output


def test_show_html_writes_one_self_contained_file(store: dict,  # noqa: F811
                                                  tmp_path: Path) -> None:
    """show --html writes the trace as one HTML file with its CSP, script and style inline
    and no reference to any other file."""
    target = tmp_path / "trace.html"
    result = run(store["path"], "show", store["proxy"], "--html", str(target))
    assert result.exit_code == 0, result.output
    assert "no server needed" in result.stderr
    html = target.read_text(encoding="utf-8")
    assert '<meta http-equiv="Content-Security-Policy"' in html
    assert "script-src 'sha256-" in unescape(html)
    assert "lookup_order" in html and "order 42 not found" in html
    assert not re.search(r"""(src|href)=["'](?!#|data:)""", html)


def test_ui_serves_the_store_and_warns_off_loopback(store: dict) -> None:  # noqa: F811
    """llmobs ui prints its URL and serves the store there; a non-loopback host gets a
    warning that traces hold user data."""
    with subprocess.Popen([LLMOBS, "--path", str(store["path"]), "ui", "--host", "0.0.0.0"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            line = server.stdout.readline()  # type: ignore[union-attr]
            url = re.search(r"http://\S+/", line)
            assert url, line
            port = url[0].rsplit(":", 1)[1].rstrip("/")
            page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
            assert page.status_code == 200 and "answer_question" in page.text
            assert str(store["path"]) in page.text
            rebound = httpx.get(f"http://127.0.0.1:{port}/", timeout=10,
                                headers={"host": f"attacker.example:{port}"})
            assert rebound.status_code == 421
        finally:
            server.terminate()
            _, errors = server.communicate(timeout=10)
    assert "Warning: listening on 0.0.0.0, not loopback" in errors


def test_ui_builds_its_indexes_while_it_serves(store: dict) -> None:  # noqa: F811
    """llmobs ui runs the thread that builds the summary index (Sessions, dropdowns) and the
    free-text index, in the user's cache folder."""
    path = store["path"]
    with subprocess.Popen([LLMOBS, "--path", str(path), "ui", "--no-open"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            assert "llmobs ui: open http://127.0.0.1:" in server.stdout.readline()  # type: ignore[union-attr]
            deadline = time.monotonic() + 30
            while not (summary_index.build_progress(path) == 1.0
                       and text_index.index_path(path).is_file()):
                assert time.monotonic() < deadline, "llmobs ui built no index"
                time.sleep(0.1)
        finally:
            server.terminate()
            server.communicate(timeout=10)
