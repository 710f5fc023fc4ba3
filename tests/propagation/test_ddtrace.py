"""Interop with the real ddtrace LLMObs, each propagation style in its own offline subprocess.

ddtrace patches and keeps global state at import, so it never runs in the pytest process. The
peer gets an agent URL on a Unix socket that does not exist: nothing can leave the machine.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from llmobs_core.propagation import extract_dict, inject_dict
from tests.support.ddtrace_styles import STYLES

if importlib.util.find_spec("ddtrace") is None:
    pytest.skip("ddtrace is not installed", allow_module_level=True)

TRACE = 142233651563154449743858526398531601255
APM_TRACE = 0x6B01347200000000DC6C3BC238B9A864
SPAN = 11826142180378097004
SESSION = "user 42: chat=1"
AGENT, AGENT_SPAN = "caller agent", 4242

PEER = r"""
import json, sys
from ddtrace.llmobs import LLMObs
from ddtrace.llmobs._utils import get_llmobs_trace_id
from ddtrace.propagation.http import HTTPPropagator

ours, session = json.loads(sys.argv[1])
LLMObs.enable(ml_app="ddtrace-app", agentless_enabled=False, integrations_enabled=False)
out = {}
with LLMObs.agent("wf", session_id=session) as agent:
    with LLMObs.task("step") as task:
        headers = LLMObs.inject_distributed_headers({}, task)
        out["sent"] = {"headers": headers, "span_id": task.span_id, "apm_trace_id": task.trace_id,
                       "llmobs_trace_id": int(get_llmobs_trace_id(task), 16),
                       "agent_span_id": agent.span_id}

context = HTTPPropagator.extract(ours)
out["extracted"] = {"trace_id": context.trace_id, "span_id": context.span_id,
                    "meta": {k: v for k, v in context._meta.items() if k.startswith("_dd.p.")}}
LLMObs.activate_distributed_headers(ours)
with LLMObs.task("child") as child:
    event = LLMObs._instance._llmobs_span_event(child)
    out["child"] = {"apm_trace_id": child.trace_id, "apm_parent_id": child.parent_id,
                    "parent_id": event["parent_id"], "trace_id": event["trace_id"],
                    "session_id": event.get("session_id"), "tags": event["tags"],
                    "agent": event["meta"].get("agent_attribution")}
LLMObs.disable()
print(json.dumps(out))
"""


def peer_env(style: str, tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "OTEL_"))}
    env.update(
        DD_TRACE_AGENT_URL=f"unix://{tmp}/no-agent.sock",
        DD_LLMOBS_AGENTLESS_ENABLED="false",
        DD_INSTRUMENTATION_TELEMETRY_ENABLED="false",
        DD_REMOTE_CONFIGURATION_ENABLED="false",
        DD_TRACE_STARTUP_LOGS="false",
        DD_TRACE_PROPAGATION_STYLE=style,
    )
    return env


@pytest.fixture(scope="module")
def peers(tmp_path_factory) -> dict[str, dict]:
    """Run one ddtrace peer per style, all at once, fed our headers limited to that style."""
    ours = inject_dict({}, trace_id=TRACE, span_id=SPAN, apm_trace_id=APM_TRACE,
                       ml_app="caller-app", session_id=SESSION, pagent=(AGENT, AGENT_SPAN))
    tmp = str(tmp_path_factory.mktemp("ddtrace"))
    running = {}
    for name, (style, names) in STYLES.items():
        fed = {k: v for k, v in ours.items() if k in names}
        running[name] = subprocess.Popen(
            [sys.executable, "-c", PEER, json.dumps([fed, SESSION])], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=peer_env(style, tmp),
        )
    results = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        results[name] = json.loads(stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("name", list(STYLES))
def test_ddtrace_headers_are_extracted_by_llmobs(peers, name):
    """Headers from a ddtrace LLMObs span give its span id, LLMObs trace id, ml_app and session."""
    sent = peers[name]["sent"]
    headers = sent["headers"]
    assert set(headers) - {"baggage"} == STYLES[name][1] - {"baggage"}
    ctx = extract_dict(headers)
    assert ctx.parent_id == sent["span_id"] == ctx.apm_parent_id
    assert ctx.trace_id == sent["llmobs_trace_id"] != sent["apm_trace_id"]
    assert ctx.apm_trace_id == sent["apm_trace_id"]
    assert (ctx.ml_app, ctx.session_id) == ("ddtrace-app", SESSION)
    # the nearest agent span; ddtrace's tracestate has no room left for its id
    assert ctx.pagent == ("wf", None if name == "w3c" else sent["agent_span_id"])
    assert ctx.sampling_priority is not None and ctx.sampling_priority > 0


@pytest.mark.parametrize("name", list(STYLES))
def test_our_headers_are_extracted_by_ddtrace_propagator(peers, name):
    """ddtrace's HTTPPropagator reads our headers into the same ids and llmobs tags."""
    extracted = peers[name]["extracted"]
    assert (extracted["trace_id"], extracted["span_id"]) == (APM_TRACE, SPAN)
    assert extracted["meta"]["_dd.p.llmobs_parent_id"] == str(SPAN)
    assert extracted["meta"]["_dd.p.llmobs_trace_id"] == str(TRACE)
    assert extracted["meta"]["_dd.p.llmobs_ml_app"] == "caller-app"
    assert extracted["meta"]["_dd.p.llmobs_sid"] == SESSION
    assert extracted["meta"]["_dd.p.llmobs_pagent_span_id"] == str(AGENT_SPAN)
    # tracestate's dd member (256 characters) has no room left for the agent's name
    assert extracted["meta"].get("_dd.p.llmobs_pagent_name") == (
        None if name == "w3c" else AGENT)


@pytest.mark.parametrize("name", list(STYLES))
def test_ddtrace_child_span_continues_our_trace(peers, name):
    """A ddtrace LLMObs span under our activated headers has our ids, ml_app and session."""
    child = peers[name]["child"]
    assert (child["apm_trace_id"], child["apm_parent_id"]) == (APM_TRACE, SPAN)
    assert (child["parent_id"], int(child["trace_id"], 16)) == (str(SPAN), TRACE)
    assert child["session_id"] == SESSION
    assert "ml_app:caller-app" in child["tags"]
    assert child["agent"] == {"pagent_name": None if name == "w3c" else AGENT,
                              "pagent_span_id": str(AGENT_SPAN)}
