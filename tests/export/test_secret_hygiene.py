"""The Datadog API key never appears: not in a log line (any logger, at DEBUG), an exception
message or traceback, a repr, a subprocess's stderr or the CLI's output, whatever the intake
answers: a status line, headers or a body that echo it, a malformed status line, a key that
straddles the end of the logged body excerpt. Nor does any run of 8 of its characters."""

from __future__ import annotations

import http.client
import logging
import os
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from llmobs_core import LLMObs
from llmobs_core.config import Config, resolve
from llmobs_core.export.datadog import DatadogSink, DeliveryError
from tests.support.datadog_support import FAST, SETTINGS, events
from tests.support.echo_intake import EchoIntake
from tests.support.fake_intake import FakeIntake

# Letters outside hex, so that no piece of the key can match a trace or span id by chance.
KEY = "".join(secrets.choice("ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") for _ in range(32))
RAW = KEY.encode()
EXCERPT = 200  # characters of a refused request's body that the sink logs
LAUNCHER = str(Path(sys.executable).parent / "llmobs-run")


def leaked(text: str) -> list[str]:
    """The pieces of 8 characters of the key found in `text`."""
    return sorted({KEY[i:i + 8] for i in range(len(KEY) - 7) if KEY[i:i + 8] in text})


def answer(status_line: bytes, *headers: bytes, body: bytes = b"") -> bytes:
    head = b"".join(line + b"\r\n" for line in (status_line, *headers))
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def straddling(offset: int) -> bytes:
    """A 400 whose body has the key starting `offset` characters before the excerpt's end."""
    return answer(b"HTTP/1.1 400 Bad Request",
                  body=b"x" * (EXCERPT - offset) + RAW + b"y" * 40)


ANSWERS = {
    "4xx reason": answer(b"HTTP/1.1 403 Forbidden key=" + RAW),
    "5xx reason": answer(b"HTTP/1.1 503 " + RAW + b" is over quota"),
    "headers and body": answer(b"HTTP/1.1 401 Unauthorized", b"X-Echo: " + RAW,
                               b"WWW-Authenticate: DD-API-KEY " + RAW,
                               body=b'{"errors": ["invalid key ' + RAW + b'"]}'),
    "retry-after": answer(b"HTTP/1.1 429 " + RAW, b"Retry-After: " + RAW, body=RAW),
    "malformed status": b"HTTP/1.1 4o3 " + RAW + b"\r\n\r\n",
    "no status line": RAW + b"\r\nX: y\r\n\r\n",
    "unknown protocol": b"HTTP/2." + RAW + b" 200 OK\r\n\r\n",
    "cut status line": b"HTTP/1.1 403 " + RAW,
    "echoed many times": answer(b"HTTP/1.1 400 Bad Request", body=(RAW + b" ") * 40),
    **{f"key at the excerpt's end - {n}": straddling(n) for n in (1, 7, 8, 9, 16, 31, 32)},
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def every_log():
    """Every log record of every logger at DEBUG, tracebacks included, and warnings."""
    handler, root = _Everything(), logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield handler.lines
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.llmobs_errors_expected
@pytest.mark.parametrize("name", list(ANSWERS))
def test_whatever_the_intake_answers_the_key_never_appears(name, every_log) -> None:
    """Through the writer (log lines, stats) and called directly (exception message, repr,
    formatted traceback), a refused or failed delivery is reported without the key."""
    batch = events(2)
    with EchoIntake(ANSWERS[name]) as intake:
        sink = DatadogSink.agentless(KEY + "\n", override_origin=intake.url, retry=FAST)
        LLMObs.enable(ml_app="shop", exporter=sink)
        with LLMObs.task("t") as span:
            pass
        LLMObs.submit_evaluation(LLMObs.export_span(span), label="l", metric_type="score",
                                 value=1.0)
        assert LLMObs.flush(10)
        stats = LLMObs.stats()
        with pytest.raises(DeliveryError) as failed:
            sink.send_spans(batch)
    assert stats["dropped"]["sink_error"] == 2 and stats["sent"] == 0
    assert any(line.startswith("llmobs ") for line in every_log)  # the failure was reported
    assert intake.heads and all(b"DD-API-KEY: " + RAW in head for head in intake.heads)
    texts = [*every_log, str(failed.value), repr(failed.value), repr(sink), repr(stats),
             "".join(traceback.format_exception(failed.value))]
    assert not leaked("\n".join(texts))


@pytest.mark.llmobs_errors_expected
def test_the_excerpt_still_shows_what_the_intake_said(every_log) -> None:
    """Masking keeps the rest of a refusal readable: the key is replaced by ***."""
    with EchoIntake(answer(b"HTTP/1.1 403 Forbidden " + RAW,
                           body=b"API key " + RAW + b" is invalid")) as intake:
        sink = DatadogSink.agentless(KEY, override_origin=intake.url, retry=FAST)
        with pytest.raises(DeliveryError, match="refused"):
            sink.send_spans(events(1))
        sink.shutdown()
    (line,) = [line for line in every_log if "refused" in line]
    assert "HTTP 403 Forbidden ***: API key *** is invalid (check DD_API_KEY" in line


@pytest.mark.parametrize("bad", [KEY + "\nX-Other: 1", "\x01" + KEY, KEY + "\u00e9",
                                 KEY[:16] + "\r" + KEY[16:], KEY + "\x7f"],
                         ids=["header injection", "SOH", "non-ASCII", "CR inside", "DEL"])
@pytest.mark.parametrize("where", ["argument", "environment"])
def test_a_key_no_header_can_carry_is_refused_at_enable_without_quoting_it(
        bad, where, monkeypatch) -> None:
    """A control or non-ASCII character inside the key raises ValueError at enable(), and the
    message names the setting, not the key."""
    if where == "environment":
        monkeypatch.setenv("DD_API_KEY", bad)
    options = {"api_key": bad} if where == "argument" else {}
    with pytest.raises(ValueError) as refused:
        LLMObs.enable(ml_app="shop", agentless_enabled=True,
                      override_origin="http://127.0.0.1:9", **options)
    assert "DD_API_KEY" in str(refused.value) and not leaked(str(refused.value))
    assert not LLMObs.enabled()


def test_a_blank_key_is_no_key(monkeypatch) -> None:
    """Whitespace alone is refused as a missing key, not sent."""
    monkeypatch.setenv("DD_API_KEY", " \n")
    with pytest.raises(ValueError, match="set DD_API_KEY"):
        LLMObs.enable(ml_app="shop", agentless_enabled=True)


@pytest.mark.parametrize("where", ["argument", "environment"])
def test_a_key_read_from_a_file_with_its_newline_is_sent_stripped(where, monkeypatch) -> None:
    """Surrounding whitespace is stripped at enable(): the intake receives the bare key."""
    if where == "environment":
        monkeypatch.setenv("DD_API_KEY", f"  {KEY}\n")
    options = {"api_key": f"{KEY}\r\n"} if where == "argument" else {}
    with FakeIntake(mode="agentless", api_key=KEY) as intake:
        LLMObs.enable(ml_app="shop", agentless_enabled=True, override_origin=intake.url,
                      **options)
        with LLMObs.task("stripped"):
            pass
        assert LLMObs.flush(10) and intake.wait_for_spans(1)
    assert intake.problems == [] and intake.spans[0]["name"] == "stripped"


def test_the_configurations_repr_never_shows_the_key(monkeypatch) -> None:
    """Config's repr and str leave the key out, however it was given."""
    monkeypatch.setenv("DD_API_KEY", KEY)
    configs = [resolve({}), resolve({"api_key": KEY}), Config(api_key=KEY)]
    assert all(config.api_key == KEY for config in configs)
    assert not leaked("\n".join(repr(config) + str(config) for config in configs))


def test_no_request_header_is_printed_with_http_client_debugging_on(monkeypatch, capfd) -> None:
    """HTTPConnection.debuglevel set for the whole process (as guides to debugging HTTP
    clients suggest) does not make the sink print its request headers, key included."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    with FakeIntake(mode="agentless", api_key=KEY) as intake:
        sink = DatadogSink.agentless(KEY, override_origin=intake.url, retry=FAST)
        sink.send_spans(events(1))
        sink.shutdown()
    out, err = capfd.readouterr()
    assert len(intake.spans) == 1 and not leaked(out + err)


_EXITING = """
import logging, warnings
logging.basicConfig(level=logging.DEBUG)
logging.captureWarnings(True)
warnings.simplefilter("always")
from llmobs_core import LLMObs
LLMObs.enable(ml_app="shop")
with LLMObs.task("exiting"):
    pass
"""


@pytest.mark.parametrize("name", ["4xx reason", "malformed status"])
def test_a_process_reports_the_failure_at_exit_without_the_key(name, tmp_path) -> None:
    """A process configured from the environment (DD_API_KEY with a newline, debug logging)
    sends at exit, reports the failure on stderr without the key, and neither the CLI's
    listing of the same spans from the local store nor `llmobs-run --info` shows it."""
    environment = {key: value for key, value in os.environ.items() if key not in SETTINGS}
    store = str(tmp_path / "traces.db")
    with EchoIntake(ANSWERS[name]) as intake:
        environment.update(DD_API_KEY=KEY + "\n", DD_LLMOBS_AGENTLESS_ENABLED="true",
                           DD_LLMOBS_OVERRIDE_ORIGIN=intake.url, LLMOBS_EXPORTER="datadog,local",
                           LLMOBS_LOCAL_PATH=store)
        run = subprocess.run([sys.executable, "-c", _EXITING], env=environment,
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert intake.heads and all(b"DD-API-KEY: " + RAW in head for head in intake.heads)
    assert "llmobs" in run.stderr and not leaked(run.stdout + run.stderr)
    outputs = [subprocess.run([sys.executable, "-m", "llmobs_core.cli", *command],
                              env=environment, capture_output=True, text=True, timeout=60)
               for command in (["traces"], ["spans", "--json"])]
    assert all(out.returncode == 0 and "exiting" in out.stdout for out in outputs)
    info = subprocess.run([LAUNCHER, "--info"], env=environment, capture_output=True,
                          text=True, timeout=60)
    assert info.returncode == 0 and "API key set" in info.stdout
    assert not leaked("".join(out.stdout + out.stderr for out in [*outputs, info]))
