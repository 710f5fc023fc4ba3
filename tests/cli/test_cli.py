"""The `llmobs` command, on stores written by the real sink."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmobs_core.cli.commands import main
from llmobs_core.export.local import LocalStoreSink

HOUR_NS = 3600 * 10**9


# -- a small factory for span events in the wire format (docs/wire-formats.md) --------

def span_event(trace_id: str, *, parent_id: str = "undefined", name: str, kind: str,
               ml_app: str, service: str, start_ns: int, session_id: str | None = None,
               tags: tuple[str, ...] = (), error: dict | None = None) -> dict:
    span_id = str(random.getrandbits(64))
    meta: dict = {"span": {"kind": kind},
                  "input": {"value": f"question for {name}"},
                  "output": {"value": f"answer from {name}"}}
    if kind == "llm":
        meta.update(model_name="gpt-4o-mini", model_provider="openai",
                    input={"messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "What is the capital?"}]},
                    output={"messages": [{"role": "assistant", "content": "Paris it is."}]})
    if error:
        meta["error"] = error
    event = {
        "trace_id": trace_id, "span_id": span_id, "parent_id": parent_id, "name": name,
        "start_ns": start_ns, "duration": 3_000_000, "status": "error" if error else "ok",
        "meta": meta, "metrics": {},
        "tags": [f"ml_app:{ml_app}", f"service:{service}", "env:test",
                 f"error:{int(bool(error))}", *tags],
        "_dd": {"span_id": span_id, "trace_id": trace_id, "apm_trace_id": trace_id},
    }
    if session_id:
        event["session_id"] = session_id
        event["tags"].append(f"session_id:{session_id}")
    return event


def trace_id_at(start_ns: int) -> str:
    return f"{start_ns // 10**9:08x}{0:08x}{random.getrandbits(64):016x}"


@pytest.fixture
def store(tmp_path: Path) -> dict:
    """Three traces: "shop" now (with a session and an evaluation), "support" through a proxy
    two hours ago (a failed tool, a tag-joined evaluation), and "shop" three hours ago."""
    now = time.time_ns()
    shop_id, proxy_id, old_id = (trace_id_at(now - h * HOUR_NS) for h in (0, 2, 3))
    root = span_event(shop_id, name="answer_question", kind="workflow", ml_app="shop",
                      service="chat-api", start_ns=now, session_id="s-1")
    chat = span_event(shop_id, parent_id=root["span_id"], name="chat_completion", kind="llm",
                      ml_app="shop", service="chat-api", start_ns=now + 10, session_id="s-1")
    proxy_root = span_event(proxy_id, name="call_proxy", kind="task", ml_app="support",
                            service="support-api", start_ns=now - 2 * HOUR_NS,
                            tags=("ml-proxy:custom",))
    lookup = span_event(proxy_id, parent_id=proxy_root["span_id"], name="lookup_order",
                        kind="tool", ml_app="support", service="chat-proxy",
                        start_ns=now - 2 * HOUR_NS + 10,
                        error={"type": "KeyError", "message": "order 42 not found", "stack": ""})
    old = span_event(old_id, name="old_question", kind="agent", ml_app="shop",
                     service="chat-api", start_ns=now - 3 * HOUR_NS)
    quality = {"join_on": {"span": {"span_id": chat["span_id"], "trace_id": shop_id}},
               "label": "helpfulness", "metric_type": "score", "score_value": 0.75,
               "ml_app": "shop", "timestamp_ms": now // 10**6, "tags": []}
    proxy_check = {"join_on": {"tag": {"key": "ml-proxy", "value": "custom"}},
                   "label": "proxy_ok", "metric_type": "categorical",
                   "categorical_value": "late", "ml_app": "support",
                   "timestamp_ms": now // 10**6 - 1000, "tags": [], "assessment": "fail",
                   "reasoning": "the proxy answered after the deadline"}
    path = tmp_path / "traces.db"
    sink = LocalStoreSink(path)
    sink.send_spans([root, chat, proxy_root, lookup, old])
    sink.send_evaluations([quality, proxy_check])
    sink.shutdown()
    return {"path": path, "shop": shop_id, "proxy": proxy_id, "old": old_id,
            "spans": {"root": root, "chat": chat, "proxy_root": proxy_root, "lookup": lookup,
                      "old": old}}


def run(path: Path | str, *args: str, **env: str):
    return CliRunner().invoke(main, ["--path", str(path), *args], env={"COLUMNS": "250", **env})


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# -- traces -----------------------------------------------------------------------------------

def test_traces_table_lists_newest_first(store: dict) -> None:
    """The table shows each trace's root, ml_app, span count, status and session, newest first."""
    result = run(store["path"], "traces")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["Start", "Trace", "ID"]
    assert [line.split()[2] for line in lines[1:]] == [store["shop"], store["proxy"],
                                                       store["old"]]
    shop = lines[1].split()
    assert shop[3:] == ["shop", "answer_question", "workflow", "2", "3.0ms", "ok", "s-1"]
    assert lines[2].split()[-1] == "error"


def test_traces_json_prints_one_object_per_trace(store: dict) -> None:
    """--json prints each trace summary as one JSON object per line."""
    rows = json_lines(run(store["path"], "traces", "--json").stdout)
    assert [row["trace_id"] for row in rows] == [store["shop"], store["proxy"], store["old"]]
    assert rows[1] | {"start_ns": 0} == {
        "trace_id": store["proxy"], "start_ns": 0, "ml_app": "support",
        "root_name": "call_proxy", "root_kind": "task", "span_count": 2,
        "duration": 3_000_000, "status": "error", "session_id": None}


@pytest.mark.parametrize(("args", "expected"), [
    (["--ml-app", "support"], ["proxy"]),
    (["--ml-app", "shop"], ["shop", "old"]),
    (["--session", "s-1"], ["shop"]),
    (["--service", "chat-proxy"], ["proxy"]),
    (["--tag", "ml-proxy:custom"], ["proxy"]),
    (["--tag", "ml-proxy"], ["proxy"]),
    (["--tag", "env:test", "--tag", "ml_app:shop"], ["shop", "old"]),
    (["--since", "1h"], ["shop"]),
    (["--since", "150m"], ["shop", "proxy"]),
    (["--limit", "2"], ["shop", "proxy"]),
])
def test_traces_filters(store: dict, args: list[str], expected: list[str]) -> None:
    """Each filter keeps exactly the traces it names."""
    result = run(store["path"], "traces", "--json", *args)
    assert result.exit_code == 0, result.output
    assert [row["trace_id"] for row in json_lines(result.stdout)] == [store[k] for k in expected]


def test_since_accepts_an_iso_time(store: dict) -> None:
    """--since takes a local ISO time as well as an age."""
    an_hour_ago = datetime.fromtimestamp(time.time() - 3600).isoformat(timespec="seconds")
    rows = json_lines(run(store["path"], "traces", "--json", "--since", an_hour_ago).stdout)
    assert [row["trace_id"] for row in rows] == [store["shop"]]


def test_bad_since_is_a_usage_error(store: dict) -> None:
    """An unreadable --since value is refused with exit code 2 and says what is accepted."""
    result = run(store["path"], "traces", "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert "10m, 2h, 1d" in result.output


def test_filters_matching_nothing_say_so(store: dict) -> None:
    """Filters that match nothing give a message, not an empty table, and exit code 0."""
    result = run(store["path"], "traces", "--ml-app", "nobody")
    assert result.exit_code == 0
    assert "No traces match these filters" in result.stderr


# -- spans ------------------------------------------------------------------------------------

def test_spans_json_prints_whole_events_and_filters(store: dict) -> None:
    """spans --json prints the stored span events; --tag and --service pick spans, not traces."""
    by_tag = json_lines(run(store["path"], "spans", "--json", "--tag", "ml-proxy:custom").stdout)
    assert by_tag == [store["spans"]["proxy_root"]]
    by_service = json_lines(run(store["path"], "spans", "--json", "--service",
                                "chat-proxy").stdout)
    assert by_service == [store["spans"]["lookup"]]
    everything = json_lines(run(store["path"], "spans", "--json").stdout)
    assert len(everything) == 5
    assert everything[0]["span_id"] == store["spans"]["chat"]["span_id"]


def test_spans_table(store: dict) -> None:
    """The spans table shows names, kinds, services and statuses."""
    result = run(store["path"], "spans", "--ml-app", "support")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert "lookup_order" in lines[1] and "chat-proxy" in lines[1] and "error" in lines[1]
    assert "call_proxy" in lines[2] and "task" in lines[2]


# -- show -------------------------------------------------------------------------------------

def test_show_draws_the_tree_with_previews_and_evaluations(store: dict) -> None:
    """The tree nests spans under their parents with previews, and lists evaluations."""
    result = run(store["path"], "show", store["shop"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert store["shop"] in lines[0]
    [root_at] = [i for i, line in enumerate(lines) if "workflow answer_question" in line]
    [chat_at] = [i for i, line in enumerate(lines) if "llm chat_completion" in line]
    assert chat_at > root_at
    assert lines[chat_at].index("llm") > lines[root_at].index("workflow")
    assert "out: answer from answer_question" in lines[root_at + 2]
    assert "model: gpt-4o-mini (openai)" in lines[chat_at + 1]
    assert "out: assistant: Paris it is." in lines[chat_at + 3]
    assert "helpfulness = 0.75" in result.stdout


def test_show_counts_the_spans_in_its_title(store: dict) -> None:
    """The title says how many spans the trace has, in the singular for one."""
    one = run(store["path"], "show", store["old"]).stdout.splitlines()[0]
    two = run(store["path"], "show", store["shop"]).stdout.splitlines()[0]
    assert one.endswith(" 1 span") and two.endswith(" 2 spans")


def test_show_highlights_errors_in_red(store: dict) -> None:
    """A failed span's error type and message are printed, in red when colour is on."""
    result = run(store["path"], "show", store["proxy"], FORCE_COLOR="1")
    assert result.exit_code == 0, result.output
    assert "\x1b[1;31mKeyError: order 42 not found" in result.stdout
    assert "\x1b[1;31mlookup_order" in result.stdout
    plain = run(store["path"], "show", store["proxy"]).stdout
    assert "KeyError: order 42 not found" in plain
    assert "proxy_ok = late  fail  the proxy answered after the deadline" in plain


def test_show_accepts_a_unique_prefix_and_prints_json(store: dict) -> None:
    """A unique prefix finds the trace; --json prints its span events as stored."""
    result = run(store["path"], "show", store["proxy"][:20], "--json")
    assert result.exit_code == 0, result.output
    spans = store["spans"]
    assert json_lines(result.stdout) == [spans["proxy_root"], spans["lookup"]]


def test_show_unknown_or_ambiguous_trace_exits_1(store: dict) -> None:
    """An unknown trace id, or a prefix of several, is an error with exit code 1."""
    unknown = run(store["path"], "show", "f" * 32)
    assert unknown.exit_code == 1
    assert "is not stored" in unknown.stderr
    shared = os.path.commonprefix([store["shop"], store["proxy"], store["old"]])
    assert shared  # the first hex digits are the start time, hours apart
    ambiguous = run(store["path"], "show", shared)
    assert ambiguous.exit_code == 1
    assert "matches several traces" in ambiguous.stderr


# -- evals ------------------------------------------------------------------------------------

def test_evals_table_json_and_filters(store: dict) -> None:
    """evals lists metrics newest first, filtered by --label and --ml-app."""
    rows = json_lines(run(store["path"], "evals", "--json").stdout)
    assert [row["label"] for row in rows] == ["helpfulness", "proxy_ok"]
    by_label = json_lines(run(store["path"], "evals", "--json", "--label", "proxy_ok").stdout)
    assert [row["label"] for row in by_label] == ["proxy_ok"]
    by_app = json_lines(run(store["path"], "evals", "--json", "--ml-app", "shop").stdout)
    assert [row["label"] for row in by_app] == ["helpfulness"]
    table = run(store["path"], "evals").stdout
    assert "tag ml-proxy:custom" in table and store["spans"]["chat"]["span_id"] in table


# -- missing, empty and broken stores ---------------------------------------------------------

@pytest.mark.parametrize("command", ["traces", "spans", "evals"])
def test_missing_store_gives_a_hint_and_exit_0(tmp_path: Path, command: str) -> None:
    """Without a store, listings say how to get traces, exit 0, and create nothing."""
    missing = tmp_path / "none" / "traces.db"
    result = run(missing, command)
    assert result.exit_code == 0
    assert f"No traces yet: {missing} does not exist yet" in result.stderr
    assert "LLMObs.enable(" in result.stderr and "make demo" not in result.stderr
    assert not missing.parent.exists()


def test_show_on_a_missing_store_exits_1(tmp_path: Path) -> None:
    """show with no store prints the hint and fails: the trace asked for is not there."""
    result = run(tmp_path / "traces.db", "show", "abc")
    assert result.exit_code == 1
    assert "No traces yet" in result.stderr


def test_empty_store_gives_the_hint(tmp_path: Path) -> None:
    """A store file with no traces (here, empty) gives the same hint and exit 0."""
    empty = tmp_path / "traces.db"
    empty.touch()
    result = run(empty, "traces")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "No traces yet" in result.stderr


def test_store_without_evaluations_says_so(tmp_path: Path) -> None:
    """evals on a store with spans but no evaluations says there are none yet, exit 0."""
    path = tmp_path / "traces.db"
    LocalStoreSink(path).send_spans([span_event(trace_id_at(time.time_ns()), name="a",
                                                kind="task", ml_app="x", service="y",
                                                start_ns=time.time_ns())])
    result = run(path, "evals")
    assert result.exit_code == 0
    assert "No evaluations yet" in result.stderr


def test_store_path_from_the_environment(store: dict) -> None:
    """LLMOBS_LOCAL_PATH picks the store when --path is not given."""
    result = CliRunner().invoke(main, ["traces", "--json"],
                                env={"LLMOBS_LOCAL_PATH": str(store["path"])})
    assert len(json_lines(result.stdout)) == 3


def test_corrupt_store_is_an_error(tmp_path: Path) -> None:
    """A file that is not a store is reported with exit code 1, not a traceback."""
    bad = tmp_path / "traces.db"
    bad.write_bytes(b"not sqlite at all" * 1000)
    result = run(bad, "traces")
    assert result.exit_code == 1
    assert "Cannot read" in result.stderr


# -- the installed command --------------------------------------------------------------------

def test_installed_llmobs_command(store: dict, tmp_path: Path) -> None:
    """The `llmobs` script in the virtualenv lists and shows a store, and handles a missing
    one with the hint and exit code 0."""
    llmobs = Path(sys.executable).parent / "llmobs"
    listed = subprocess.run([llmobs, "--path", store["path"], "traces"], capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert store["shop"] in listed.stdout and store["old"] in listed.stdout
    shown = subprocess.run([llmobs, "--path", store["path"], "show", store["proxy"]],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "KeyError: order 42 not found" in shown.stdout
    missing = subprocess.run([llmobs, "traces"], capture_output=True, text=True, timeout=60,
                             cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                                "XDG_DATA_HOME": str(tmp_path / "data")})
    assert missing.returncode == 0
    default = tmp_path / "data" / "llmobs" / "traces.db"
    assert f"Store: {default}" in missing.stderr
    assert f"No traces yet: {default} does not exist yet" in missing.stderr
