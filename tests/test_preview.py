"""make preview shows an answer as a person would receive it: real numbers,
Telegram's splitting, buttons; an unknown id gets one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import content
from bot.preview import PreviewError, preview
from conftest import edit_yaml


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "preview", *args],
                          capture_output=True, text=True, timeout=60)


def test_an_faq_answer_is_shown_with_the_real_numbers():
    done = command("reference_number")
    assert done.returncode == 0, done.stderr
    assert "phone 101, quoting URN 165 18/2/15" in done.stdout
    assert "call 999 instead" in done.stdout
    assert "Source: Thames Valley Police statement, 2015." in done.stdout
    assert content.PLACEHOLDER.search(done.stdout) is None  # no [police_101] left


def test_a_response_is_shown_with_its_buttons_by_name_or_short_name():
    shown = preview("utter_worried")
    assert "0808 800 5000" in shown and "0800 1111" in shown and "[nspcc" not in shown
    assert "[ Yes, in danger now ]\n   [ No, not right now ]" in shown
    assert preview("worried") == shown


def test_a_long_answer_is_split_as_telegram_would_split_it(copy):
    long_answer = " ".join(["Call [police_101] to report a worry."] * 150)  # about 5,500 characters
    edit_yaml(copy / "data" / "faq.yml", lambda d: next(
        e for e in d["faq"] if e["id"] == "apologies").update(answer=long_answer))
    shown = preview("apologies", copy)
    assert "in 2 messages" in shown
    assert "──── message 1 of 2 ────" in shown and "──── message 2 of 2 ────" in shown
    assert "Call 101 to report a worry." in shown and "[police_101]" not in shown


def test_an_unknown_id_gets_one_line_with_close_ids():
    with pytest.raises(PreviewError, match="Close ids: apologies"):
        preview("apologise")
    done = command("utter_worryed")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == ("signpost: No service, FAQ entry or response is called 'utter_worryed'. "
                           "Close ids: utter_worried.\n")


def test_broken_content_is_named_not_a_traceback(copy):
    (copy / "data" / "services.yml").write_text("services: [oops")
    done = command("apologies", "--root", str(copy))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "services.yml: this is not valid YAML" in done.stderr


def test_a_service_is_shown_as_the_bot_gives_it():
    done = command("nspcc_helpline")
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    directory = content.load_directory()
    nspcc = directory.services["nspcc_helpline"]
    for line in ("NSPCC Helpline", "Phone: 0808 800 5000", f"Web: {nspcc.web}",
                 f"Hours: {nspcc.hours}", f"For: {nspcc.for_whom}"):
        assert line in shown
    assert "[nspcc_helpline.name]  NSPCC Helpline" in shown
    assert "[nspcc_helpline.text]  (empty: do not use it)" in shown
    assert "utter_worried" in shown.split("Answers that name it")[1]


def test_a_changed_number_shows_in_the_service_preview(copy):
    edit_yaml(copy / "data" / "services.yml", lambda d: next(
        s for s in d["services"] if s["id"] == "nspcc_helpline").update(phone="0808 800 5001"))
    assert "Phone: 0808 800 5001" in preview("nspcc_helpline", copy)


def test_a_mistyped_service_id_gets_the_close_one():
    with pytest.raises(PreviewError, match="Close ids: nspcc_helpline"):
        preview("nspcc_helpine")


def test_conditional_variations_say_when_each_is_given(copy):
    edit_yaml(copy / "domain.yml", lambda d: d["responses"].update(utter_goodbye=[
        {"text": "Take care, and call [nspcc_helpline] any time.",
         "condition": [{"type": "slot", "name": "persona", "value": "parent"}]},
        {"text": "Take care."}]))
    shown = preview("utter_goodbye", copy)
    assert "Variation 1 of 2, given when persona is parent." in shown
    assert "Variation 2 of 2, given when no condition applies." in shown
    assert "call 0808 800 5000 any time" in shown


def test_broken_content_is_named_once_and_nothing_is_previewed(copy):
    (copy / "data" / "services.yml").write_text("services:\n  - id: x\n    phone: [\n")
    done = subprocess.run([sys.executable, "-m", "bot", "preview", "nspcc_helpline", "--root", str(copy)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    problems = [line for line in done.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and "not valid YAML at line 4" in problems[0], done.stderr


def test_a_reader_that_goes_away_gets_no_traceback():
    """``make preview ID=... | head`` closes the pipe early; staff must not see a traceback."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "bot", "preview", "nspcc_helpline"],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
