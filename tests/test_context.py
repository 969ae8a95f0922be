"""Who is writing, and what the conversation is about: the cues, and the answers that use them."""

from __future__ import annotations

import pytest

from bot import content
from bot.rasa_plugins import context
from bot.rasa_plugins.context import ContextCues, persona_of, topic_of
from bot.rasa_plugins.nlg import service_card
from conftest import texts


@pytest.mark.parametrize("text, persona", [
    ("im 14 n my bf is 22 is that normal", context.YOUNG_PERSON),
    ("i am only 13", context.YOUNG_PERSON),
    ("my stepdad keeps coming in my room", context.YOUNG_PERSON),
    ("my daughter is 14 and has a much older boyfriend", context.PARENT),
    ("worried about my 15 year old granddaughter", context.PARENT),
    ("I'm a taxi driver and a girl in my cab looked scared", context.PARENT),
    ("I'm a teacher and a pupil told me something this morning", context.PROFESSIONAL),
    ("one of my players at the club said his coach messages him", context.PROFESSIONAL),
    ("as the DSL what do I do with this disclosure", context.PROFESSIONAL),
    ("when i was 12 my uncle abused me, im 45 now", context.ADULT_SURVIVOR),
    ("i was groomed as a teenager years ago", context.ADULT_SURVIVOR),
    ("im 15 and when i was 12 he touched me", context.YOUNG_PERSON),
    ("i think im attracted to children and i hate myself", context.OWN_THOUGHTS),
    ("i keep looking at pictures of under 18s online and i want to stop", context.OWN_THOUGHTS),
    ("what did the serious case review find", None),
    ("im 6 months pregnant and scared", None),
])
def test_who_is_writing_comes_from_what_they_say_about_themselves(text, persona):
    assert persona_of(text) == persona


def test_follow_ups_and_small_talk_leave_the_topic_where_it_was():
    assert topic_of("find_support") == "find_support"
    assert topic_of("followup_cost") is None
    assert topic_of("thanks") is None and topic_of("nlu_fallback") is None


def test_a_named_service_becomes_the_topic():
    cues = ContextCues(content.SERVICES_FILE)
    assert cues.service_named("what does victim support do") == "victim_support"
    assert cues.service_named("is childline free?") == "childline"
    assert cues.service_named("NSPCC or CEOP, which one") == "ceop"
    assert cues.service_named("should i call 999") is None


def test_a_follow_up_about_a_service_is_answered_from_its_directory_entry():
    directory = content.load_directory()
    card = directory.render(service_card(directory.services["victim_support"], "utter_followup_cost"))
    entry = directory.services["victim_support"]
    assert entry.phone in card and entry.for_whom in card and entry.hours in card
    assert "[" not in card and "999" in card
    urgent = directory.render(service_card(entry, "utter_followup_emergency"))
    assert urgent.split("\n\n")[0].endswith("call 999.")


def test_the_slots_follow_the_conversation(ask, new_id):
    conversation = new_id()
    ask(conversation, "what does victim support do")
    follow_up = texts(ask(conversation, "is it free"))
    assert content.load_directory().services["victim_support"].phone in follow_up


def test_naming_one_service_gets_that_service_not_the_whole_list(ask, new_id):
    directory = content.load_directory()
    reply = texts(ask(new_id(), "what is stop it now"))
    assert directory.services["stop_it_now"].phone in reply
    assert directory.services["samaritans"].phone not in reply


def test_whats_the_number_right_after_an_answer_is_the_number_of_what_it_was_about(ask, new_id):
    directory = content.load_directory()
    conversation = new_id()
    ask(conversation, "what does victim support do")
    assert directory.services["victim_support"].phone in texts(ask(conversation, "whats the number"))
    # Asked first, it is a question of its own: the main numbers.
    first = texts(ask(new_id(), "whats the number"))
    assert "101" in first and directory.services["childline"].phone in first


def test_answers_change_with_who_is_writing(ask, new_id):
    parent = texts(ask(new_id(), "my daughter is 14 and im worried about a man she talks to"))
    teacher = texts(ask(new_id(), "im a teacher and im worried about a pupil in my class"))
    assert "safeguarding lead" in teacher and "safeguarding lead" not in parent
    assert "NSPCC" in parent
