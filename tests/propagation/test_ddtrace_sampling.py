"""Sampling decisions between llmobs and the real ddtrace LLMObs (in offline subprocesses, as
in test_ddtrace.py): ddtrace's sampling headers read by llmobs, llmobs's read by ddtrace, and
both tracers' decisions for the same trace ids compared at 0, 1 and 0.5."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from llmobs_core.propagation import extract_dict, inject_dict
from llmobs_core.sampling import keeps
from tests.propagation.test_ddtrace import peer_env

if importlib.util.find_spec("ddtrace") is None:
    pytest.skip("ddtrace is not installed", allow_module_level=True)

RATES = (0.0, 1.0, 0.5)
TRACES = 40
APM_TRACE = 0x6B01347200000000DC6C3BC238B9A864

PEER = r"""
import json, sys
from ddtrace.llmobs import LLMObs

rate, ours, traces = json.loads(sys.argv[1])
LLMObs.enable(ml_app="ddtrace-app", agentless_enabled=False, integrations_enabled=False,
              sample_rate=rate)
out = {"sent": [], "continued": []}
for _ in range(traces):
    with LLMObs.workflow("root") as root:
        event = LLMObs._instance._llmobs_span_event(root)
        out["sent"].append({"headers": LLMObs.inject_distributed_headers({}, root),
                            "apm_trace_id": root.trace_id, "_dd": event["_dd"]})
for headers in ours:
    LLMObs.activate_distributed_headers(headers)
    with LLMObs.task("child") as child:
        out["continued"].append(LLMObs._instance._llmobs_span_event(child)["_dd"])
LLMObs.disable()
print(json.dumps(out))
"""


def _ours(sampled: bool, rate: float) -> dict[str, str]:
    return inject_dict({}, trace_id=2**120 + 5, span_id=77, apm_trace_id=APM_TRACE,
                       ml_app="caller-app", session_id=None, sample_rate=rate, sampled=sampled)


@pytest.fixture(scope="module")
def peers(tmp_path_factory) -> dict[float, dict]:
    """One ddtrace peer per rate, all at once; each is also fed our headers saying keep at 0.25
    and drop at 0.75, a decision contrary to its own rate where that rate is 0 or 1."""
    tmp = str(tmp_path_factory.mktemp("ddtrace-sampling"))
    ours = [_ours(True, 0.25), _ours(False, 0.75)]
    running = {rate: subprocess.Popen(
        [sys.executable, "-c", PEER, json.dumps([rate, ours, TRACES])], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=peer_env("datadog,tracecontext,baggage", tmp)) for rate in RATES}
    results = {}
    for rate, process in running.items():
        stdout, stderr = process.communicate(timeout=90)
        assert process.returncode == 0, stderr
        results[rate] = json.loads(stdout.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("rate", RATES)
def test_llmobs_reads_ddtraces_decision_and_would_have_made_the_same(peers, rate) -> None:
    """Each ddtrace root's _dd.p.llmobs_sd / _dd.p.llmobs_sr are read by llmobs as ddtrace
    decided them, and llmobs's own hash at that rate gives the same decision for the same
    APM trace id."""
    decisions = []
    for sent in peers[rate]["sent"]:
        context = extract_dict(sent["headers"])
        assert context is not None
        assert context.sampled is (sent["_dd"]["sampling_decision"] == "1")
        assert context.sample_rate == rate
        assert context.sampled is keeps(sent["apm_trace_id"], rate)
        decisions.append(context.sampled)
    assert set(decisions) == ({True, False} if rate == 0.5 else {rate == 1.0})


@pytest.mark.parametrize("rate", RATES)
def test_the_sampling_headers_are_written_alike(peers, rate) -> None:
    """ddtrace writes the keys where llmobs does, in the same form: _dd.p.llmobs_sr and
    _dd.p.llmobs_sd in x-datadog-tags, t.llmobs_sr and t.llmobs_sd in tracestate."""
    sent = peers[rate]["sent"][0]
    theirs = sent["headers"]
    ours = _ours(sent["_dd"]["sampling_decision"] == "1", rate)

    def sampling_items(headers: dict[str, str]) -> tuple[list[str], list[str]]:
        tags = [i for i in headers["x-datadog-tags"].split(",") if "llmobs_s" in i
                and "llmobs_sid" not in i]
        dd = headers["tracestate"].split(",")[0]
        state = [i for i in dd.split(";") if "llmobs_s" in i and "llmobs_sid" not in i]
        return sorted(tags), sorted(state)

    assert sampling_items(theirs) == sampling_items(ours)


@pytest.mark.parametrize("rate", RATES)
def test_ddtrace_follows_llmobss_decision(peers, rate) -> None:
    """A ddtrace span continued from our headers takes our decision and rate over its own:
    keep at 0.25 and drop at 0.75, whatever ddtrace's local rate."""
    kept, dropped = peers[rate]["continued"]
    assert (kept["sampling_decision"], kept["sample_rate"]) == ("1", "0.25")
    assert (dropped["sampling_decision"], dropped["sample_rate"]) == ("0", "0.75")
