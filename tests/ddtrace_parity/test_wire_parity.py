"""What ddtrace 4.x puts on every span and evaluation, on llmobs: the source and agent_service
tags, event_kind, the nearest agent span (meta.agent_attribution, also across headers) and the
session shared by a whole local trace."""

from __future__ import annotations

import threading

from llmobs_core import LLMObs
from llmobs_core.testing import capture


def _tags(event: dict) -> dict[str, str]:
    return dict(tag.partition(":")[::2] for tag in event["tags"])


def test_every_span_carries_source_and_agent_service_and_evaluations_their_kind() -> None:
    """source:integration and agent_service:<the span's ml_app> on every span (a span's own
    ml_app too); event_kind "evaluation" on evaluations, "feedback" on feedback."""
    with capture(ml_app="app") as captured:
        with LLMObs.workflow(name="root") as root:
            with LLMObs.task(name="other", ml_app="other-app"):
                pass
        ids = LLMObs.export_span(root)
        LLMObs.submit_evaluation(label="ok", metric_type="boolean", value=True, span=ids)
        LLMObs.submit_feedback(label="thumbs", metric_type="boolean", value=True,
                               submitter={"id": "u"}, span=ids)
        spans = {event["name"]: _tags(event) for event in captured.spans}
        kinds = {metric["label"]: metric["event_kind"] for metric in captured.evaluations}
    assert spans["root"]["source"] == "integration" and spans["root"]["agent_service"] == "app"
    assert spans["other"]["agent_service"] == spans["other"]["ml_app"] == "other-app"
    assert kinds == {"ok": "evaluation", "thumbs": "feedback"}


def test_agent_attribution_names_the_nearest_enclosing_agent_span() -> None:
    """Each span under an agent carries that agent's name and span id (the nearest one when
    agents nest); an agent span carries its own enclosing agent, never itself; spans outside
    any agent carry none; the name is the agent's at the time the child opened."""
    with capture() as captured:
        with LLMObs.workflow(name="outside"):
            with LLMObs.agent(name="outer") as outer:
                with LLMObs.workflow(name="step"):
                    with LLMObs.llm(model_name="m", name="call"):
                        pass
                    with LLMObs.agent(name="inner") as inner:
                        with LLMObs.tool(name="tool"):
                            pass
        found = {event["name"]: event["meta"].get("agent_attribution")
                 for event in captured.spans}
    by_outer = {"pagent_name": "outer", "pagent_span_id": str(outer.span_id)}
    assert found["outside"] is None and found["outer"] is None
    assert found["step"] == found["call"] == found["inner"] == by_outer
    assert found["tool"] == {"pagent_name": "inner", "pagent_span_id": str(inner.span_id)}


def test_agent_attribution_crosses_headers_as_ddtrace_sends_it() -> None:
    """inject_distributed_headers under an agent (or from the agent itself) sends
    _dd.p.llmobs_pagent_span_id and _name; the spans continued from them carry that agent.
    A name too long for x-datadog-tags is left out, the id kept; a malformed id is ignored
    and the name kept alone, as ddtrace reads a tracestate that had no room for the id."""
    with capture() as captured:
        with LLMObs.agent(name="planner") as planner:
            from_agent = LLMObs.inject_distributed_headers({})
            with LLMObs.task(name="step"):
                from_child = LLMObs.inject_distributed_headers({})
        with LLMObs.agent(name="x" * 600) as long_named:
            long_headers = LLMObs.inject_distributed_headers({})
        bad = dict(from_agent, **{"x-datadog-tags": from_agent["x-datadog-tags"].replace(
            f"pagent_span_id={planner.span_id}", "pagent_span_id=12ab")})

        def downstream(headers: dict, name: str) -> None:
            LLMObs.activate_distributed_headers(headers)
            with LLMObs.workflow(name=name):
                with LLMObs.task(name=name + "-child"):
                    pass

        for headers, name in ((from_agent, "a"), (from_child, "b"), (long_headers, "c"),
                              (bad, "d")):
            thread = threading.Thread(target=downstream, args=(headers, name))
            thread.start()
            thread.join()
        found = {event["name"]: event["meta"].get("agent_attribution")
                 for event in captured.spans}
    by_planner = {"pagent_name": "planner", "pagent_span_id": str(planner.span_id)}
    assert "_dd.p.llmobs_pagent_name=planner" in from_agent["x-datadog-tags"]
    assert found["a"] == found["a-child"] == found["b"] == found["b-child"] == by_planner
    assert found["c"] == {"pagent_name": None, "pagent_span_id": str(long_named.span_id)}
    assert found["d"] == found["d-child"] == {"pagent_name": "planner", "pagent_span_id": None}


def test_a_session_set_anywhere_in_a_local_trace_reaches_its_later_spans() -> None:
    """As ddtrace: the first session a span of the trace is opened with becomes the trace's;
    spans opened later under a parent without a session take it (and it goes into the
    headers), spans opened before do not, a span's own session and its parent's win."""
    with capture() as captured:
        with LLMObs.workflow(name="root"):
            with LLMObs.task(name="before"):
                pass
            with LLMObs.task(name="first", session_id="s1"):
                with LLMObs.task(name="first-child"):
                    pass
            with LLMObs.task(name="second", session_id="s2"):
                with LLMObs.task(name="second-child"):
                    pass
            with LLMObs.task(name="later") as later:
                headers = LLMObs.inject_distributed_headers({})
        with LLMObs.workflow(name="next-trace"):
            pass
        sessions = {event["name"]: (event.get("session_id"), _tags(event).get("session_id"))
                    for event in captured.spans}
    assert sessions["root"] == sessions["before"] == sessions["next-trace"] == (None, None)
    assert sessions["first"] == sessions["first-child"] == sessions["later"] == ("s1", "s1")
    assert sessions["second"] == sessions["second-child"] == ("s2", "s2")
    assert later.session_id == "s1" and "_dd.p.llmobs_sid=s1" in headers["x-datadog-tags"]


def test_the_suites_intake_checks_these_fields() -> None:
    """The fake intake's wire checks (tests/support/wire_checks.py) accept what llmobs sends
    and refuse a malformed agent_attribution or an evaluation's unknown event_kind."""
    import copy

    from tests.support.wire_checks import _check_metric, _check_span

    with capture() as captured:
        with LLMObs.agent(name="a"):
            with LLMObs.task(name="t") as task:
                pass
        LLMObs.submit_evaluation(label="ok", metric_type="boolean", value=True,
                                 span=LLMObs.export_span(task))
        span = captured.by_name("t")
        metric = captured.evaluations[0]
    problems: list[str] = []
    _check_span(span, "t", problems)
    _check_metric(metric, problems.append)
    assert problems == []
    for field, value in (("pagent_span_id", "12ab"), ("pagent_name", 3)):
        bad = copy.deepcopy(span)
        bad["meta"]["agent_attribution"][field] = value
        _check_span(bad, "t", problems)
    _check_metric({**metric, "event_kind": "judgement"}, problems.append)
    assert len(problems) == 3 and "event_kind" in problems[2], problems
