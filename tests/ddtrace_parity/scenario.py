"""The calls the behavioural comparison makes, on ddtrace or on llmobs: `python scenario.py
ddtrace|llmobs`, with the environment pointing both at one fake intake (see test_behaviour.py).
Only public API; the same code for both SDKs."""

from __future__ import annotations

import sys
import threading
from typing import Any

FIXED_TS = 1767225600000
PROMPT = {"id": "support-answer", "version": "1.0.0", "template": "Answer {question}",
          "variables": {"question": "What is LLMObs?"}, "tags": {"team": "support"}}
TOOLS = [{"name": "lookup", "description": "Look a term up", "version": "2",
          "schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]


class Failure(ValueError):
    pass


def redact(span: Any) -> Any:
    """ddtrace's documented processor shape: drop on a tag, redact on another."""
    if span.get_tag("drop") == "yes":
        return None
    if span.get_tag("redact") == "yes":
        span.output = [{"content": "[REDACTED]", "role": m.get("role", "")} for m in span.output]
        span.metadata.pop("secret", None)
    return span


def run(LLMObs: Any, decorators: Any) -> None:
    LLMObs.enable(integrations_enabled=False)
    LLMObs.register_processor(redact)
    with LLMObs.workflow(name="root", session_id="sess-1"):
        LLMObs.annotate(input_data={"q": "x"}, output_data="secret answer",
                        metadata={"temperature": 0.1, "secret": "s"},
                        metrics={"latency_ms": 12.5}, tags={"redact": "yes", "key": "root"})
        root_ids = LLMObs.export_span()
        with LLMObs.agent(name="planner"):
            agent_headers = LLMObs.inject_distributed_headers({})
            with LLMObs.llm(model_name="gpt-4o", model_provider="OpenAI", name="chat") as chat:
                LLMObs.annotate(prompt=PROMPT, tool_definitions=TOOLS,
                                input_data=[{"role": "user", "content": "What is LLMObs?"}],
                                output_data=[{"role": "assistant", "content": "tracing"}],
                                metrics={"input_tokens": 3}, tags={"key": "llm"})
                chat_ids = LLMObs.export_span(chat)
                with LLMObs.tool(name="lookup"):
                    LLMObs.annotate(input_data={"q": "x"}, output_data=["r1"])
            with LLMObs.retrieval(name="search"):
                LLMObs.annotate(input_data="query", output_data=[{"text": "doc", "score": 0.5}])
            with LLMObs.embedding(model_name="emb", model_provider="openai", name="embed"):
                LLMObs.annotate(input_data=["hello"], output_data="[1 vector]")
            with LLMObs.task(name="postprocess", agent_service="other-app"):
                LLMObs.annotate(input_data="in", output_data="out")
        try:
            with LLMObs.task(name="failing"):
                raise Failure("boom")
        except Failure:
            pass
        with LLMObs.workflow(name="dropped"):
            LLMObs.annotate(tags={"drop": "yes"})
        with LLMObs.workflow(name="prompted"):
            LLMObs.annotate(prompt=PROMPT)
            with LLMObs.llm(model_name="m", name="inherits"):
                pass
        headers = LLMObs.inject_distributed_headers({})

    with LLMObs.annotation_context(tags={"ctx": "outer"}, name="renamed"):
        with LLMObs.annotation_context(tags={"ctx": "inner", "ctx2": "inner"}):
            with LLMObs.task(name="ctx-task"):
                pass

    @decorators.workflow(session_id="sess-deco")
    def handle(question, k=3, **opts):
        return {"answer": question.upper()}

    @decorators.agent(version="2.0")
    def run_agent(goal):
        return goal

    @decorators.tool
    def bad(x):
        raise Failure("decorated")

    with LLMObs.workflow(name="decorated-root"):
        handle("hi", 5, flag=True)
        run_agent("goal")
        try:
            bad(1)
        except Failure:
            pass

    def downstream(headers: dict[str, str], name: str) -> None:
        LLMObs.activate_distributed_headers(headers)
        with LLMObs.task(name=name):
            pass

    for carried, name in ((headers, "downstream"), (agent_headers, "downstream-of-agent")):
        thread = threading.Thread(target=downstream, args=(carried, name))
        thread.start()
        thread.join()

    LLMObs.submit_evaluation(label="relevance", metric_type="categorical", value="high",
                             span=chat_ids, tags={"judge": "human"}, timestamp_ms=FIXED_TS,
                             metadata={"model": "judge-1"}, assessment="pass", reasoning="ok")
    LLMObs.submit_evaluation(label="accuracy", metric_type="score", value=0.75,
                             span_with_tag_value={"tag_key": "key", "tag_value": "llm"},
                             timestamp_ms=FIXED_TS)
    LLMObs.submit_evaluation(label="completed", metric_type="boolean", value=True,
                             span=root_ids, eval_scope="trace", timestamp_ms=FIXED_TS)
    who = {"id": "user-42", "type": "end_user"}
    LLMObs.submit_feedback(label="thumbs", metric_type="boolean", value=True, submitter=who,
                           span=chat_ids, timestamp_ms=FIXED_TS, tags={"channel": "web"})
    LLMObs.submit_feedback(label="comment", metric_type="text", value="great", submitter=who,
                           trace_id=root_ids["trace_id"], timestamp_ms=FIXED_TS)
    LLMObs.submit_feedback(label="rating", metric_type="categorical", value="good",
                           submitter=who, session_id="sess-1", timestamp_ms=FIXED_TS)
    # Sampling needs a process of its own per rate (decided at enable()): run_sampling().
    LLMObs.flush()


def _sd(headers: dict[str, str]) -> str:
    """The propagated sampling decision and rate in injected headers."""
    tags = dict(m.partition("=")[::2] for m in headers.get("x-datadog-tags", "").split(","))
    return f"sd={tags.get('_dd.p.llmobs_sd')} sr={tags.get('_dd.p.llmobs_sr')}"


REMOTE_KEPT = {"x-datadog-trace-id": "1234567", "x-datadog-parent-id": "7654321",
               "x-datadog-sampling-priority": "1",
               "x-datadog-tags": "_dd.p.llmobs_sd=1,_dd.p.llmobs_sr=0.5,"
                                 "_dd.p.llmobs_parent_id=7654321,"
                                 "_dd.p.llmobs_trace_id=123456789012345678901234567"}


def run_sampling(LLMObs: Any, rate_argument: float | None) -> None:
    """With DD_LLMOBS_SAMPLE_RATE=0 and DD_LLMOBS_SAMPLING_RULES keeping sessions keep-* and
    tier:gold (test_behaviour.py sets both), or enable(sample_rate=1) over them."""
    if rate_argument is None:
        LLMObs.enable(integrations_enabled=False)
    else:
        LLMObs.enable(integrations_enabled=False, sample_rate=rate_argument)
    with LLMObs.workflow(name="dropped-root"):
        with LLMObs.llm(model_name="m", model_provider="openai", name="dropped-child") as child:
            dropped_ids = LLMObs.export_span(child)
        dropped_headers = LLMObs.inject_distributed_headers({})
    with LLMObs.workflow(name="kept-by-session", session_id="keep-1"):
        with LLMObs.task(name="kept-child") as kept:
            kept_ids = LLMObs.export_span(kept)
            LLMObs.annotate(metadata={"dropped_trace_headers": _sd(dropped_headers)})
        kept_headers = LLMObs.inject_distributed_headers({})
    with LLMObs.annotation_context(tags={"tier": "gold"}):
        with LLMObs.workflow(name="kept-by-context"):
            pass
    with LLMObs.workflow(name="late-tag"):
        LLMObs.annotate(tags={"tier": "gold"})

    def downstream(headers: dict[str, str], name: str) -> None:
        LLMObs.activate_distributed_headers(headers)
        with LLMObs.task(name=name):
            LLMObs.annotate(metadata={"received": _sd(headers)})

    for headers, name in ((dropped_headers, "remote-dropped"), (kept_headers, "remote-kept"),
                          (REMOTE_KEPT, "remote-decided")):
        thread = threading.Thread(target=downstream, args=(headers, name))
        thread.start()
        thread.join()
    for label, ids in (("on_dropped", dropped_ids), ("on_kept", kept_ids)):
        LLMObs.submit_evaluation(label=label, metric_type="score", value=1.0, span=ids,
                                 timestamp_ms=FIXED_TS)
    LLMObs.submit_feedback(label="thumbs_on_dropped", metric_type="boolean", value=True,
                           submitter={"id": "u"}, span=dropped_ids, timestamp_ms=FIXED_TS)
    LLMObs.flush()


def main(sdk: str, mode: str) -> None:
    if sdk == "ddtrace":
        import ddtrace.llmobs.decorators as decorators
        from ddtrace.llmobs import LLMObs
    else:
        import llmobs_core.decorators as decorators  # type: ignore[no-redef]
        from llmobs_core import LLMObs  # type: ignore[assignment]
    if mode == "main":
        run(LLMObs, decorators)
    else:
        run_sampling(LLMObs, 1.0 if mode == "sampling-argument" else None)
    if sdk == "llmobs":
        LLMObs.disable()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "main")
