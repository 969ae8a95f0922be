"""No message text reaches the logs at any level, -v included, unless
SIGNPOST_LOG_MESSAGE_TEXT is on: the real commands on the real model, and the
filter on records shaped like PTB's and httpx's."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import warnings

import pytest

from bot import redaction
from tools.telegram_standin import TelegramStandIn, text_update
from conftest import write_endpoints

SECRET = "zebra-marmalade-4417"
MESSAGE = f"{SECRET} my daughter is missing"
TIMEOUT = 240


def run_bot(args: list[str], stdin: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != redaction.ENV}
    return subprocess.run(
        [sys.executable, "-m", "bot", "-v", *args, "--endpoints", str(write_endpoints(tmp_path))],
        input=stdin, capture_output=True, text=True, timeout=TIMEOUT, env={**environment, **env})


def converse_line() -> str:
    return json.dumps({"conversation": "privacy", "text": MESSAGE}) + "\n"


@pytest.mark.slow
def test_converse_with_v_logs_rasa_debug_lines_but_no_text(model, tmp_path):
    done = run_bot(["converse", "--jsonl", "--model", str(model)], converse_line(), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert SECRET in done.stdout  # the answer echoes it: the message did go through
    assert "event='processor.message.parse'" in done.stderr  # -v shows Rasa's events
    assert SECRET not in done.stderr


@pytest.mark.slow
def test_with_the_variable_on_the_text_may_be_logged(model, tmp_path):
    """The check above can fail: the same run, text allowed, does log it."""
    done = run_bot(["converse", "--jsonl", "--model", str(model)], converse_line(), tmp_path,
                   **{redaction.ENV: "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert SECRET in done.stderr


@pytest.mark.slow
def test_shell_with_v_logs_no_text(model, tmp_path):
    done = run_bot(["shell", "--model", str(model)], MESSAGE + "\n/quit\n", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Bot:" in done.stdout
    assert "DEBUG rasa." in done.stderr
    assert SECRET not in done.stderr


TOKEN_SECRET = "PrivacyT0kenPrivacyT0kenPrivacy12"
CHAT_ID = 987_654_321


@pytest.mark.slow
@pytest.mark.parametrize("allowed", [False, True], ids=["text off", "text on"])
def test_telegram_adapter_with_v_logs_no_text_and_no_chat_id(model, tmp_path, allowed):
    """The adapter with -v against the Bot API stand-in: PTB's debug lines carry
    every update and every sendMessage; none of their values reach the log."""
    standin = TelegramStandIn().start()
    environment = {k: v for k, v in os.environ.items() if k != redaction.ENV}
    environment.update(TELEGRAM_BOT_TOKEN=f"123456789:{TOKEN_SECRET}",
                       TELEGRAM_API_BASE_URL=standin.base_url,
                       SIGNPOST_ID_KEY="log-privacy-test-key-of-at-least-32-bytes",
                       SIGNPOST_STATE_DIR=str(tmp_path / "state"))
    if allowed:
        environment[redaction.ENV] = "1"
    log_path = tmp_path / "adapter.log"
    with open(log_path, "w") as log:
        adapter = subprocess.Popen(
            [sys.executable, "-m", "bot", "-v", "telegram", "--model", str(model),
             "--endpoints", str(write_endpoints(tmp_path))],
            env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        standin.wait_until(lambda: standin.calls_to("setMyCommands") or adapter.poll() is not None,
                           TIMEOUT)
        assert adapter.poll() is None, log_path.read_text()[-3000:]
        standin.push(text_update(CHAT_ID, standin.next_message_id(), MESSAGE))
        standin.wait_for_messages(CHAT_ID, 1, 120)
    finally:
        adapter.terminate()
        adapter.wait(timeout=60)
        standin.stop()
    logged = log_path.read_text()
    assert "DEBUG telegram." in logged  # -v shows PTB's lines
    if allowed:
        assert SECRET in logged
    else:
        assert SECRET not in logged and str(CHAT_ID) not in logged and TOKEN_SECRET not in logged


# --- the filter on its own, on records shaped like the libraries' ------------------


@pytest.fixture
def log():
    """A handler with the filter, as logs.configure sets up the root handlers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redaction.MessageTextFilter())

    def emit(name: str, level: int, msg, *args) -> str:
        record = logging.LogRecord(name, level, __file__, 1, msg, args or None, None)
        if handler.filter(record):
            handler.emit(record)
        return stream.getvalue()

    return emit


UPDATE = {"update_id": 7, "message": {"chat": {"id": 123456789}, "text": MESSAGE}}


@pytest.mark.parametrize("name, msg, args, kept", [
    ("telegram.Bot", "Calling Bot API endpoint `%s` with parameters `%s`",
     ("sendMessage", {"chat_id": 123456789, "text": MESSAGE}), "Calling Bot API endpoint"),
    ("telegram.Bot", "Call to Bot API endpoint `%s` finished with return value `%s`",
     ("getUpdates", [UPDATE]), "finished with return value"),
    ("telegram.ext.Application", "Processing update %s", (UPDATE,), "Processing update"),
    ("httpx", 'HTTP Request: %s %s "%s %d %s"',
     ("POST", f"https://api.telegram.org/bot123:TOKEN/sendMessage?text={SECRET}",
      "HTTP/1.1", 200, "OK"), "HTTP Request: <redacted>"),
    ("rasa.core.processor", "Received user message %(text)r", ({"text": MESSAGE},),
     "Received user message"),
])
def test_library_values_are_redacted_at_debug(log, name, msg, args, kept):
    out = log(name, logging.DEBUG, msg, *args)
    assert kept in out and "<redacted>" in out
    assert SECRET not in out and "123456789" not in out and "TOKEN" not in out


def test_preformatted_library_debug_lines_are_dropped(log):
    assert log("httpcore.http11", logging.DEBUG, f"send_request_body.started body={MESSAGE}") == ""
    assert log("rasa.core.lock_store", logging.INFO, f"Lock for '{MESSAGE}'") == ""


def test_library_warnings_and_our_own_lines_are_kept(log):
    out = log("telegram.ext.Updater", logging.WARNING, "Network error; retrying")
    out = log("bot.channels.telegram.app", logging.DEBUG, "Served %d update(s)", 3)
    assert "Network error; retrying" in out and "Served 3 update(s)" in out


def test_the_variable_turns_the_filter_off(monkeypatch):
    handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setenv(redaction.ENV, "1")
    redaction.install([handler])
    assert handler.filters == []
    monkeypatch.setenv(redaction.ENV, "0")
    redaction.install([handler])
    assert len(handler.filters) == 1


def test_a_warning_that_quotes_a_payload_shaped_message_keeps_only_its_kind(engine, loop, new_id):
    """Rasa warns with the whole text of a payload it cannot parse ("/affirm{...}",
    which a photo caption can carry), through Python's warnings: -v shows them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redaction.MessageTextFilter())
    warnings_logger = logging.getLogger("py.warnings")
    level = warnings_logger.level
    warnings_logger.addHandler(handler)
    warnings_logger.setLevel(logging.WARNING)  # as with -v
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(True)
            try:
                replies = loop.run_until_complete(
                    engine.respond(new_id(), '/affirm{"%s": "%s"}' % (SECRET, MESSAGE)))
            finally:
                logging.captureWarnings(False)
    finally:
        warnings_logger.removeHandler(handler)
        warnings_logger.setLevel(level)
    assert replies
    logged = stream.getvalue()
    assert "UserWarning: <redacted>" in logged  # the warning was logged, by its kind
    assert SECRET not in logged


@pytest.mark.slow
def test_converse_with_v_logs_no_payload_shaped_text(model, tmp_path):
    line = json.dumps({"conversation": "privacy", "text": '/affirm{"%s": 1}' % SECRET}) + "\n"
    done = run_bot(["converse", "--jsonl", "--model", str(model)], line, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "UserWarning" in done.stderr  # Rasa did warn about it
    assert SECRET not in done.stderr
