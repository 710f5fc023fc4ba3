"""Fixtures of the viewer's browser tests: a store with the demo assistant's traces plus
hostile content, the viewer served by uvicorn on 127.0.0.1:0 in a thread, and the system's
Chromium driven by Playwright (never a downloaded browser). Without Chromium the tests skip,
saying so; on CI (CI=true) they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from llmobs_core import LLMObs
from llmobs_core.cli.ui import create_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LLMOBS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "javascript:alert(1)",
           "</textarea><script>alert(2)</script>", "{{7*7}}", "</pre><svg onload=alert(3)>",
           "\u2028</script>\u2029"]
HOOKS = """
window.__alerts = [];
window.__csp = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (message) => { window.__alerts.push(String(message)); };
}
document.addEventListener("securitypolicyviolation",
  (event) => window.__csp.push(event.violatedDirective + " " + event.blockedURI));
"""


def record_hostile_trace(ml_app: str = "hostile-app") -> None:
    """One trace of every span kind, full of content that must show as text (the SDK refuses
    a hostile ml_app, so that one is plain)."""
    text = "\n".join(HOSTILE)
    nested: Any = "bottom <script>alert(7)</script>"
    for _ in range(60):
        nested = {"<b>k</b>": nested}
    with LLMObs.workflow(name=HOSTILE[0], session_id='s"><script>alert(4)</script>/x',
                         ml_app=ml_app) as root:
        LLMObs.annotate(input_data=text, output_data=HOSTILE[2],
                        metadata={"nested": nested, "{{7*7}}": HOSTILE[1]},
                        tags={"hostile": "<img src=x onerror=alert(5)>", "case": "hostile"})
        with LLMObs.llm(model_name="<b>model</b>", model_provider="javascript:alert(1)",
                        name="</textarea>"):
            LLMObs.annotate(
                input_data=[{"role": "<script>alert(6)</script>", "content": text},
                            {"role": "user", "content": "lone surrogate: \ud800 end"}],
                output_data=[{"role": "assistant", "content": HOSTILE[1], "tool_calls": [
                    {"name": "<img src=x onerror=alert(8)>", "arguments": {"a": HOSTILE[0]},
                     "tool_id": "javascript:alert(1)", "type": "function"}]}],
                metrics={"input_tokens": 7, "output_tokens": 5, "total_tokens": 12})
        with LLMObs.retrieval(name="{{7*7}}"):
            LLMObs.annotate(input_data=HOSTILE[3], output_data=[
                {"text": HOSTILE[5], "name": HOSTILE[0], "id": "d1", "score": 0.5}])
        with LLMObs.tool(name="huge"):
            LLMObs.annotate(input_data="x" * 300_000, output_data=HOSTILE[4])
        try:
            with LLMObs.task(name="fails"):
                raise ValueError("<script>alert(9)</script> in the error")
        except ValueError:
            pass
        span = LLMObs.export_span(root)
    LLMObs.submit_evaluation(span, label="<b>judge</b>", metric_type="categorical",
                             value="<img src=x onerror=alert(10)>", assessment="fail",
                             reasoning="</textarea><script>alert(11)</script>")
    assert LLMObs.flush(10)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("store") / "traces.db"
    env = {**os.environ, "LLMOBS_LOCAL_PATH": str(path)}
    subprocess.run([sys.executable, str(ROOT / "examples" / "assistant.py")],
                   env=env, check=True, capture_output=True, timeout=120)
    saved = os.environ.get("LLMOBS_LOCAL_PATH")
    os.environ["LLMOBS_LOCAL_PATH"] = str(path)
    try:
        LLMObs.enable(ml_app="hostile-app", service="hostile-svc", exporter="local")
        record_hostile_trace()
        LLMObs.disable()
        yield path
    finally:
        if saved is None:
            os.environ.pop("LLMOBS_LOCAL_PATH", None)
        else:
            os.environ["LLMOBS_LOCAL_PATH"] = saved


def serve(app: Any, lifespan: str = "off") -> tuple[uvicorn.Server, str]:
    """The app served in a thread; lifespan "on" starts its index thread."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan=lifespan))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the viewer did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def base_url(store: Path) -> Iterator[str]:
    server, url = serve(create_app(store))
    yield url
    server.should_exit = True


@pytest.fixture(scope="module")  # Playwright's loop runs while it is open: not past the module
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        message = (f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package"
                   " (apt-get install chromium), or set LLMOBS_TEST_CHROMIUM")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A page whose dialogs, console errors and CSP violations are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.console: list[str] = []
        page.add_init_script(HOOKS)
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda message: self.console.append(message.text)
                if message.type in ("error", "warning") else None)

    def assert_nothing_ran(self) -> None:
        alerts = self.page.evaluate("window.__alerts")
        violations = self.page.evaluate("window.__csp")
        assert (self.dialogs, alerts, violations) == ([], [], [])
        assert not [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    watched = Watched(context.new_page())
    yield watched
    watched.assert_nothing_ran()
    context.close()
