"""The trace page by part of an id: a unique prefix leads to the trace, a prefix shared by
several traces lists them (not "no trace"), an unknown id says there is none."""

from __future__ import annotations

import html
import os
from pathlib import Path

import httpx

from llmobs_core.store import pages


def test_a_trace_by_a_prefix_of_its_id(base_url: str, store: Path) -> None:
    stored = pages.find_traces(store, pages.Filters(), limit=10_000).rows
    ids = sorted(row["trace_id"] for row in stored)
    # ids start with their time, so traces made close together share a prefix: the two
    # neighbours sharing the longest (a slow run may put a time boundary between any two)
    first, second = max(zip(ids, ids[1:]), key=lambda pair: len(os.path.commonprefix(pair)))
    shared = os.path.commonprefix([first, second])
    assert len(shared) >= 6
    unique = first[:len(shared) + 1]
    found = httpx.get(f"{base_url}/trace/{unique}", follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (302, f"/trace/{first}")
    several = httpx.get(f"{base_url}/trace/{shared}")
    assert several.status_code == 404
    text = html.unescape(several.text)
    assert f"'{shared}' matches" in text and first in text and second in text
    assert "Give more of the id." in text
    none = httpx.get(f"{base_url}/trace/ffff{shared}")
    assert none.status_code == 404 and "No trace" in html.unescape(none.text)
