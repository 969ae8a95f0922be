"""`python -m bot converse --jsonl` as testers use it: a real subprocess behind pipes."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

import pytest

from conftest import alarmed, opens_safely, write_endpoints

# Generous: the first answer waits for the model to load on a busy CI machine.
ANSWER_TIMEOUT = 180


class Converse:
    """A running `converse` process we can talk to one line at a time."""

    def __init__(self, model, endpoints, stderr):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "converse", "--jsonl",
             "--model", str(model), "--endpoints", str(endpoints)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
        )  # stdin takes bytes, so a test can send what is not UTF-8
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.decode("utf-8"))

    def send(self, raw: str | bytes) -> dict:
        """Send one raw line and wait for its answer before sending anything else."""
        self.proc.stdin.write((raw.encode("utf-8") if isinstance(raw, str) else raw) + b"\n")
        self.proc.stdin.flush()
        return json.loads(self.lines.get(timeout=ANSWER_TIMEOUT))

    def say(self, conversation: str, text: str) -> dict:
        return self.send(json.dumps({"conversation": conversation, "text": text}))

    def close(self) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def converse(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("converse")
    with open(folder / "stderr.log", "w") as stderr:
        process = Converse(model, write_endpoints(folder), stderr)
        yield process
        if process.proc.poll() is None:
            process.close()


def reply_text(answer: dict) -> str:
    return "\n".join(reply["text"] for reply in answer["replies"])


def test_reporting_question_is_answered_with_101(converse):
    answer = converse.say("tester-1", "how do i report a concern about a child")
    assert answer["conversation"] == "tester-1"
    assert answer["text"] == "how do i report a concern about a child"
    assert "101" in reply_text(answer)


def test_danger_now_is_answered_with_999(converse):
    answer = converse.say("tester-2", "a child is being hurt right now")
    assert opens_safely(answer["replies"])


def test_two_conversations_keep_their_own_state(converse):
    asked = converse.say("parent", "i'm worried about my daughter")
    assert asked["replies"][0]["buttons"][0]["payload"] == "/affirm"
    # A different conversation saying "yes" has not been asked anything.
    elsewhere = converse.say("stranger", "yes")
    assert not alarmed(elsewhere["replies"])
    back = converse.say("parent", "yes")
    assert alarmed(back["replies"])


def test_malformed_lines_get_an_error_and_the_run_goes_on(converse):
    for bad in ["this is not json", "[1, 2]", '{"conversation": "x"}', '{"text": "hi"}',
                '{"conversation": "", "text": "hi"}']:
        answer = converse.send(bad)
        assert set(answer) == {"error", "line"}
        assert answer["error"]
    assert "101" in reply_text(converse.say("tester-3", "how do i report child abuse"))


def test_buttons_are_absent_when_a_reply_has_none(converse):
    answer = converse.say("tester-4", "hello")
    assert all("buttons" not in reply for reply in answer["replies"])


def test_stdout_holds_only_answers_and_the_run_ends_cleanly(model, tmp_path):
    lines = [json.dumps({"conversation": "c", "text": t}) for t in ("hi", "bye")] + ["oops"]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "converse", "--jsonl",
         "--model", str(model), "--endpoints", str(write_endpoints(tmp_path))],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=ANSWER_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [("error" in a) for a in answers] == [False, False, True]


# --- lines that must not end the run, each read from stdin bytes by a real process ---

BAD_LINES = {
    "100,000 nested [": b"[" * 100_000,
    "nested inside an object": b'{"conversation": "c", "text": ' + b"[" * 100_000 + b"}",
    "a lone surrogate in the text": b'{"conversation": "c", "text": "hi \\ud800"}',
    "a lone surrogate in the id": b'{"conversation": "\\udfff", "text": "hi"}',
    "Latin-1, not UTF-8": b'{"conversation": "c", "text": "caf\xe9"}',
    "a stray continuation byte": b"\x80\x80",
    "100,000-character text": json.dumps({"conversation": "c", "text": "a" * 100_000}).encode(),
    "a line past a megabyte": b"x" * 1_100_000,
    "a 5,000-digit number": b'{"conversation": ' + b"9" * 5000 + b', "text": "hi"}',
    "a list": b"[1, 2]",
    "a string": b'"hello"',
    "a number": b"42",
    "null": b"null",
    "no text": b'{"conversation": "c"}',
    "text a number": b'{"conversation": "c", "text": 5}',
    "text null": b'{"conversation": "c", "text": null}',
    "no conversation": b'{"text": "hi"}',
    "conversation a list": b'{"conversation": ["c"], "text": "hi"}',
    "conversation a fraction": b'{"conversation": 1.5, "text": "hi"}',
    "conversation true": b'{"conversation": true, "text": "hi"}',
    "conversation null": b'{"conversation": null, "text": "hi"}',
    "not JSON": b"this is not json",
}


@pytest.mark.parametrize("raw", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_line_gets_one_error_line_and_the_next_is_answered(converse, raw):
    answer = converse.send(raw)
    assert set(answer) == {"error", "line"}, answer
    assert answer["error"].startswith(f"line {answer['line']}: "), answer
    assert "Traceback" not in answer["error"] and len(answer["error"]) < 200
    assert "101" in reply_text(converse.say("after-bad", "how do i report child abuse"))


def test_error_lines_count_every_input_line(model, tmp_path):
    """One process, all the bad lines in a row: each error names its own line."""
    good = json.dumps({"conversation": "c", "text": "hello"}).encode()
    # A byte-order mark (from a Windows editor) on line 1 is not an error of its own.
    lines = [b"\xef\xbb\xbf" + BAD_LINES["100,000 nested ["], *list(BAD_LINES.values())[1:], b"", good]
    done = subprocess.run(
        [sys.executable, "-m", "bot", "converse", "--jsonl",
         "--model", str(model), "--endpoints", str(write_endpoints(tmp_path))],
        input=b"\n".join(lines) + b"\n", capture_output=True, timeout=ANSWER_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr.decode("utf-8", "replace")
    answers = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [a.get("line") for a in answers[:-1]] == list(range(1, len(BAD_LINES) + 1))
    assert "nested too deeply" in answers[0]["error"]
    assert answers[-1]["replies"]  # the blank line is skipped, the last line answered


def test_a_number_and_a_string_id_are_different_conversations(converse):
    asked = converse.send(json.dumps({"conversation": 7, "text": "i'm worried about my daughter"}))
    assert asked["conversation"] == 7  # echoed as it was given
    assert asked["replies"][0]["buttons"][0]["payload"] == "/affirm"
    as_string = converse.send(json.dumps({"conversation": "7", "text": "yes"}))
    assert as_string["conversation"] == "7"
    assert not alarmed(as_string["replies"])
    back = converse.send(json.dumps({"conversation": 7, "text": "yes"}))
    assert alarmed(back["replies"])

