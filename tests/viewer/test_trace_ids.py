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
    shared = os.path.commonprefix(ids[:2])
    assert len(shared) >= 8  # ids start with their time: traces of one second share it
    unique = ids[0][:len(shared) + 1]
    found = httpx.get(f"{base_url}/trace/{unique}", follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (302, f"/trace/{ids[0]}")
    several = httpx.get(f"{base_url}/trace/{shared}")
    assert several.status_code == 404
    text = html.unescape(several.text)
    assert f"'{shared}' matches" in text and ids[0] in text and ids[1] in text
    assert "Give more of the id." in text
    none = httpx.get(f"{base_url}/trace/ffff{shared}")
    assert none.status_code == 404 and "No trace" in html.unescape(none.text)
