"""Testers' transcripts (tests/conversations/) pass on the real model, and the
report tells a non-programmer what failed, where, and what the bot said."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bot import transcripts

PASSING = """\
- conversation: worried, nobody in danger now
  turns:
    - user: I'm worried about my niece, she keeps coming home with expensive presents
      first_says: ["999"]
      says: ["101", "No, not right now"]
    - user: /deny
      says: ["165 18/2/15"]
"""

FAILING = """\
- conversation: expects the wrong number
  turns:
    - user: hello
      says: ["Signpost"]
    - user: I'm worried about a girl at my school
      says: ["0800 9999", "/child(line|hood)/"]
      never_says: ["101"]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run(engine, loop, paths) -> list[transcripts.FileResult]:
    return loop.run_until_complete(transcripts.run(engine, transcripts.load(transcripts.find(paths))))


def test_the_testers_transcripts_pass(engine, loop):
    files = run(engine, loop, [transcripts.FOLDER])
    assert sum(len(f.results) for f in files) >= 40
    assert transcripts.ok(files), "\n" + transcripts.report(files, only_failures=True)


def test_a_failure_names_the_turn_the_expectation_and_what_the_bot_said(engine, loop, tmp_path):
    files = run(engine, loop, [write(tmp_path, "failing.yml", FAILING)])
    assert not transcripts.ok(files)
    report = transcripts.report(files)
    assert "FAILED   expects the wrong number" in report
    assert 'Turn 2: the person typed "I\'m worried about a girl at my school"' in report
    assert 'Expected: the replies should say "0800 9999"' in report
    assert 'Expected: the replies should not say "101"' in report
    assert "/child(line|hood)/" not in report  # Childline is in the answer, so that one passed
    assert "Turn 1" not in report  # the greeting turn passed
    assert "| Thank you for telling me." in report  # what the bot actually said
    assert "[button: No, not right now]" in report
    assert report.endswith("0 of 1 conversations passed, 1 failed (1 file).")


def test_junit_counts_passes_failures_and_unreadable_files(engine, loop, tmp_path):
    write(tmp_path, "a_passing.yml", PASSING)
    write(tmp_path, "b_failing.yml", FAILING)
    write(tmp_path, "c_broken.yml", "- conversation: x\n  turns:\n    - says: ['101']\n")
    files = run(engine, loop, [tmp_path])
    root = ET.fromstring(transcripts.junit(files))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    failure = root.find(".//testcase[@name='expects the wrong number']/failure")
    assert failure.get("message") == 'turn 2: the replies should say "0800 9999"'
    error = root.find(".//testcase[@classname='conversations.c_broken']/error")
    assert "c_broken.yml, case 1 ('x'), turn 1: needs 'user'" in error.get("message")
    assert root.find(".//testcase[@name='worried, nobody in danger now']/failure") is None


def test_the_command_exits_0_only_when_every_conversation_passes(model, tmp_path, capsys):
    passing = write(tmp_path, "passing.yml", PASSING)
    failing = write(tmp_path, "failing.yml", FAILING)
    junit = tmp_path / "results" / "conversations.xml"

    assert transcripts.main([passing], None, lambda: model) == 0
    assert transcripts.main([passing, failing], junit, lambda: model) == 1
    printed = capsys.readouterr().out
    assert "passed   worried, nobody in danger now" in printed
    assert "1 of 2 conversations passed, 1 failed (2 files)." in printed
    assert ET.parse(junit).getroot().get("failures") == "1"


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "test-conversations", *args],
                          capture_output=True, text=True, timeout=120)


def test_a_broken_file_gets_a_clear_message_and_no_traceback(tmp_path):
    broken = write(tmp_path, "broken.yml", "- conversation: niece\n  turns:\n    - user: hi\n"
                                           "      says: ['101'\n")
    typo = write(tmp_path, "typo.yml", "- conversation: niece\n  turns:\n    - user: hi\n"
                                       "      say: ['101']\n")
    done = command(str(broken), str(typo))
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "COULD NOT READ THIS FILE" in done.stdout
    assert "broken.yml" in done.stdout and "cannot be read as YAML" in done.stdout
    assert "case 1 ('niece'), turn 1: 'say' is not part of the format" in done.stdout

    missing = command(str(tmp_path / "nowhere.yml"))
    assert missing.returncode == 2
    assert "nowhere.yml: no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr
