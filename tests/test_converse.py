"""`python -m bot converse --jsonl` as testers use it: a real subprocess behind pipes."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

import pytest

from conftest import write_endpoints

# Generous: the first answer waits for the model to load on a busy CI machine.
ANSWER_TIMEOUT = 180


class Converse:
    """A running `converse` process we can talk to one line at a time."""

    def __init__(self, model, endpoints, stderr):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "converse", "--jsonl",
             "--model", str(model), "--endpoints", str(endpoints)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
            text=True, encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, raw: str) -> dict:
        """Send one raw line and wait for its answer before sending anything else."""
        self.proc.stdin.write(raw + "\n")
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
    assert "999" in answer["replies"][0]["text"]


def test_two_conversations_keep_their_own_state(converse):
    asked = converse.say("parent", "i'm worried about my daughter")
    assert asked["replies"][0]["buttons"][0]["payload"] == "/affirm"
    # A different conversation saying "yes" has not been asked anything.
    elsewhere = converse.say("stranger", "yes")
    assert "call 999 now" not in reply_text(elsewhere)
    back = converse.say("parent", "yes")
    assert "call 999 now" in back["replies"][0]["text"]


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
