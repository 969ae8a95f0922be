"""The dialogue engine, driven through its public interface with the real model."""

from __future__ import annotations

import asyncio

import pytest

from bot import content
from bot.engine import Engine, EngineError
from bot.safety import Signal
from conftest import alarmed, opens_safely, texts


def test_greeting_says_what_the_bot_is_and_is_not(ask, new_id):
    reply = texts(ask(new_id(), "hello"))
    assert "automated" in reply
    assert "not an emergency service" in reply
    assert "no person reads these messages" in reply
    assert "999" in reply


def test_reporting_a_concern_is_answered_with_101(ask, new_id):
    replies = ask(new_id(), "how do I report a concern about a child")
    assert "101" in texts(replies)
    assert "999" in texts(replies)


def test_danger_now_gets_999_in_the_first_reply(ask, new_id):
    assert opens_safely(ask(new_id(), "a child is being hurt right now"))


def test_worry_asks_about_danger_with_buttons_and_each_button_answers(ask, new_id):
    first, second = new_id(), new_id()
    question = ask(first, "i'm worried about my daughter")
    assert len(question) == 1 and "danger right now" in question[0].text
    yes, no = question[0].buttons
    assert "Yes" in yes.title and "No" in no.title

    ask(second, "i'm worried about my daughter")
    assert opens_safely(ask(first, yes.payload))
    not_now = texts(ask(second, no.payload))
    assert "101" in not_now and "URN 165 18/2/15" in not_now


def test_conversations_are_kept_apart(ask, new_id):
    asked, never_asked = new_id(), new_id()
    ask(asked, "im worried about a child")
    in_context = ask(asked, "yes")
    out_of_context = ask(never_asked, "yes")
    assert alarmed(in_context)  # "yes, someone is in danger now"
    assert not alarmed(out_of_context)
    assert "not sure I understood" in texts(out_of_context)


def test_a_restarted_engine_remembers_the_conversation(ask, new_id, model, endpoints, loop):
    conversation = new_id()
    ask(conversation, "i am worried about a girl i know")
    restarted = loop.run_until_complete(Engine.load(model, endpoints))
    answer = loop.run_until_complete(restarted.respond(conversation, "no not right now"))
    assert "101" in texts(answer)


def test_rasa_commands_typed_by_a_user_are_read_as_text(ask, new_id):
    conversation = new_id()
    ask(conversation, "i'm worried about my son")
    # /restart would wipe the conversation and answer nothing; it must answer.
    assert ask(conversation, "/restart")
    assert ask(conversation, "/nonsense")


def test_odd_input_always_gets_an_answer(ask, new_id):
    for text in ["", "   ", "\x00\x07\x1b[31m", "🙂🙂", "a" * 20_000, "<b>hi</b> *bold* _x_"]:
        replies = ask(new_id(), text)
        assert replies, f"no answer to {text[:20]!r}"
        assert all(reply.text.strip() for reply in replies)


def test_no_placeholder_ever_reaches_a_user(ask, new_id):
    conversation = new_id()
    for text in ["hi", "what can you do", "im worried about my son", "no", "what helplines are there",
                 "im deaf", "can i report anonymously", "is it confidential", "what happens next",
                 "it happened to me", "what did the review find", "were they pakistani", "asdf"]:
        for reply in ask(conversation, text):
            assert "[" not in reply.text and "]" not in reply.text, reply.text
            assert all("[" not in b.title for b in reply.buttons)


def test_faq_answers_come_from_the_statements_and_cite_them(ask, new_id):
    reply = texts(ask(new_id(), "how many people have been charged since the trial"))
    assert "47 offenders" in reply and "201" in reply
    assert reply.endswith("Source: Thames Valley Police statement, 2015.")
    sensitive = texts(ask(new_id(), "were the abusers muslim"))
    assert "Pakistani and/or Muslim heritage" in sensitive
    assert "not a judgement about any community" in sensitive
    assert "Source: Police and Crime Commissioner" in sensitive


def test_disclosure_is_believed_with_999_first_and_options(ask, new_id):
    reply = ask(new_id(), "someone abused me and i have never told anyone")[0].text
    assert reply.index("999") < reply.index("101")
    for expected in ("I believe you", "not your fault", "0800 1111", "0808 500 2222",
                     "08 08 16 89 111"):
        assert expected in reply


def test_an_adult_survivor_gets_services_for_adults_not_for_teenagers(ask, new_id):
    reply = ask(new_id(), "i was abused when i was a teenager, im 45 now")[0].text
    assert reply.index("999") < reply.index("101")
    for expected in ("I believe you", "not your fault", "0808 500 2222", "08 08 16 89 111"):
        assert expected in reply
    assert "0800 1111" not in reply


def test_a_number_changed_in_the_directory_changes_every_answer(model, endpoints, loop, tmp_path,
                                                                  new_id):
    services = tmp_path / "services.yml"
    services.write_text(content.SERVICES_FILE.read_text().replace('"0808 800 5000"', '"0808 800 5001"'))
    engine = loop.run_until_complete(Engine.load(model, endpoints, services=services))
    replies = texts(loop.run_until_complete(engine.respond(new_id(), "what helplines are there")))
    assert "0808 800 5001" in replies and "0808 800 5000" not in replies

    # A running bot picks up the next edit with its next model swap, without a restart.
    services.write_text(content.SERVICES_FILE.read_text().replace('"0808 800 5000"', '"0808 800 5002"'))
    loop.run_until_complete(engine.reload(model))
    replies = texts(loop.run_until_complete(engine.respond(new_id(), "what helplines are there")))
    assert "0808 800 5002" in replies and "0808 800 5001" not in replies

    # An essential number changed after the check ran is refused, and the old numbers stay.
    services.write_text(content.SERVICES_FILE.read_text().replace('phone: "999"', 'phone: "99"'))
    with pytest.raises(EngineError, match="police_999"):
        loop.run_until_complete(engine.reload(model))
    assert "0808 800 5002" in texts(loop.run_until_complete(engine.respond(new_id(), "what helplines are there")))


def test_a_follow_up_the_bot_cannot_place_gets_the_last_answers_own_words(ask, new_id):
    conversation = new_id()
    assert "£3.5m" in texts(ask(conversation, "how much money did the police put into tackling it"))
    follow_up = texts(ask(conversation, "since when"))
    assert "In the statement's own words" in follow_up and "2011 financial year" in follow_up
    assert "999" in follow_up and "101" in follow_up

    fresh = texts(ask(new_id(), "since when"))
    assert "own words" not in fresh and "not sure I understood" in fresh


def test_a_risky_message_after_a_2015_answer_gets_999_first_not_the_statements_words(ask, new_id):
    conversation = new_id()
    ask(conversation, "how much money did the police put into tackling it")
    replies = ask(conversation, "i'm hiding in the toilet")
    assert opens_safely(replies)
    assert "own words" not in texts(replies)


def test_danger_past_the_length_the_model_reads_still_leads_with_the_emergency_answer(ask, new_id):
    conversation = new_id()
    ask(conversation, "how much money did the police put into tackling it")
    assert opens_safely(ask(conversation, "blah " * 600 + "he is hitting me right now"))
    replies = ask(new_id(), "x " * 1500 + "i have taken an overdose")
    assert opens_safely(replies, Signal.SELF_HARM)


def test_a_message_during_a_model_swap_is_answered_by_the_model_still_serving(
        engine, model, loop, new_id, monkeypatch):
    """Rasa's load_model makes the new processor before it gives the new NLG its
    responses; a message answered in that instant must still get a real answer."""
    from rasa.core.agent import Agent

    during: list = []
    set_fingerprint = Agent._set_fingerprint

    def mid_swap(agent, fingerprint=None):  # on the loading thread, between the two
        asking = engine.respond(new_id(), "how do i report a concern about a child")
        during.append(asyncio.run_coroutine_threadsafe(asking, loop).result(60))
        set_fingerprint(agent, fingerprint)

    monkeypatch.setattr(Agent, "_set_fingerprint", mid_swap)
    loop.run_until_complete(engine.reload(model))
    assert during and "101" in texts(during[0])
