"""The conversation-file format: clear errors, and matching as documented."""

from __future__ import annotations

import pytest

from bot import conversations


def test_a_malformed_file_names_the_file_and_the_case(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("- id: one\n  turns:\n    - says: ['101']\n")
    with pytest.raises(conversations.CaseFileError, match=r"bad.yml, case 1 \('one'\), turn 1: needs 'user'"):
        conversations.load(path)


@pytest.mark.parametrize("text, problem", [
    ("- id: [unclosed\n", "cannot be read as YAML"),
    ("just: a mapping\n", "should be a list of cases"),
    ("- id: a\n  turns: []\n", "needs 'turns'"),
    ("- id: a\n  turns: [{user: hi, says: ['/(unclosed/']}]\n", "not a valid pattern"),
    ("- id: a\n  turns: [{user: hi}]\n- id: a\n  turns: [{user: hi}]\n", "used twice"),
])
def test_each_kind_of_mistake_gets_its_own_message(tmp_path, text, problem):
    path = tmp_path / "case.yml"
    path.write_text(text)
    with pytest.raises(conversations.CaseFileError, match=problem):
        conversations.load(path)


def test_expectations_ignore_case_and_slashes_mean_a_pattern():
    turn = conversations.Turn("hi", first_says=("CALL 999",), says=("/0800 ?1111/",),
                              never_says=("source:",))
    assert conversations.check(turn, ["call 999 now", "Childline 08001111"]) == []
    failures = conversations.check(turn, ["nothing", "Source: the statement"])
    assert failures == ['the first reply should say "CALL 999"',
                        'the replies should say "/0800 ?1111/"',
                        'the replies should not say "source:"']


def test_a_transcript_is_named_by_conversation_and_values_stay_as_written(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text("- conversation: worried about a niece\n  turns:\n"
                    "    - user: no\n      says: [0800 1111, 0123]\n      first_says: 999\n")
    (case,) = conversations.load(path)
    assert case.id == "worried about a niece"
    assert case.turns[0] == conversations.Turn("no", first_says=("999",), says=("0800 1111", "0123"))


@pytest.mark.parametrize("text, problem", [
    ("- conversation: a\n  turns: [{user: hi, say: ['101']}]\n",
     r"t.yml, case 1 \('a'\), turn 1: 'say' is not part of the format"),
    ("- conversation: a\n  turn: [{user: hi}]\n", r"t.yml, case 1: needs 'turns'"),
    ("- conversation: a\n  turns: [{user: hi}]\n  expected: x\n",
     r"t.yml, case 1 \('a'\): 'expected' is not part of the format"),
    ("- conversation: a\n  turns: [{user: '  ', says: ['101']}]\n", r"turn 1: needs 'user'"),
    ("", "should be a list of cases"),
])
def test_a_tester_s_typo_is_named_rather_than_skipped(tmp_path, text, problem):
    path = tmp_path / "t.yml"
    path.write_text(text)
    with pytest.raises(conversations.CaseFileError, match=problem):
        conversations.load(path)
