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
    assert done.stderr == ("signpost: No FAQ entry or response is called 'utter_worryed'. "
                           "Close ids: utter_worried.\n")


def test_broken_content_is_named_not_a_traceback(copy):
    (copy / "data" / "services.yml").write_text("services: [oops")
    done = command("apologies", "--root", str(copy))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "services.yml: this is not valid YAML" in done.stderr
