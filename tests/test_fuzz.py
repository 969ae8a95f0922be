"""Property-based tests: whatever people send, the bot answers and never crashes.

FUZZ_EXAMPLES generated inputs in all, through the real model: 40% straight
into the engine, 60% as Telegram updates (ordinary, odd and malformed) through
the whole delivery path: the loopback Bot API stand-in hands them to the real
python-telegram-bot application by getUpdates, each chat in order, answered,
settled and only then confirmed. Whatever path a text takes (a message, a
caption, an edit, a group or a channel), if it signals danger the first
message sent for it opens safely. The default, 300, keeps `make test` quick; `make test-all` (and
so CI) sets 10,000. Examples are derandomised, so a failure found once is
found again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from telegram import Update

from bot import content, safety
from bot.channels.telegram.fixed_replies import FixedReplies
from bot.channels.telegram.pseudonyms import Pseudonyms
from bot.channels.telegram.splitting import TELEGRAM_LIMIT
from bot.channels.telegram.app import COMMANDS, Settings, build_application
from tools.telegram_standin import TelegramStandIn
from conftest import opens_safely

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 300))
ENGINE_EXAMPLES = EXAMPLES * 2 // 5
ADAPTER_EXAMPLES = EXAMPLES - ENGINE_EXAMPLES
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

WORDS = ["help", "he", "wont", "let", "me", "leave", "hurting", "she", "is", "in", "danger",
         "report", "101", "999", "kill", "myself", "review", "😀", "\u202e", "\u200f", "<b>",
         "</i>", "*", "_", "`", "[x](http://y)", "\n", "\t", "\x00", "\x1b[31m", "&amp;"]
texts = st.one_of(
    st.text(),  # any Unicode, control characters and all
    st.text(alphabet=string.printable, max_size=300),
    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join),
    st.builds(lambda s, n: (s * n)[:30_000], st.text(min_size=1, max_size=30),
              st.integers(500, 3_000)),  # huge
    st.sampled_from(["", " ", "\u202e\u202d", "/restart", "/affirm", "/deny", "/faq_apologies",
                     "/nlu_fallback", "/session_start", "/affirm{\"x\": 1}", "/", "//", "🙂" * 50,
                     "<script>alert(1)</script>", "*bold* _it_ `code` ~s~ ||sp||"]),
)


@given(text=texts)
@settings(max_examples=ENGINE_EXAMPLES, **SETTINGS)
def test_the_engine_answers_anything(ask, new_id, text):
    replies = ask(new_id(), text)
    assert replies, "no answer"
    for reply in replies:
        assert isinstance(reply.text, str) and reply.text.strip()
        assert not content.PLACEHOLDER.search(reply.text)
    signal = safety.assess(text)
    if signal:
        assert opens_safely(replies, signal), [r.text[:80] for r in replies]


# --- Telegram updates -------------------------------------------------------------------

ids = st.integers(-10**13, 10**13)
users = st.fixed_dictionaries({"id": st.integers(1, 10**10), "is_bot": st.booleans(),
                               "first_name": st.text(max_size=20)},
                              optional={"username": st.text(max_size=20),
                                        "language_code": st.sampled_from(["en", "cy", "xx"])})
chats = st.fixed_dictionaries({"id": ids, "type": st.sampled_from(
    ["private", "private", "private", "group", "supergroup", "channel"])},
    optional={"title": st.text(max_size=10), "first_name": st.text(max_size=10)})
file = st.fixed_dictionaries({"file_id": st.text(min_size=1, max_size=5),
                              "file_unique_id": st.text(min_size=1, max_size=5)})
bodies = st.one_of(
    st.fixed_dictionaries({"text": texts}),
    st.fixed_dictionaries({"text": st.sampled_from(["/start", "/help", "/emergency", "/privacy",
                                                    "/forget", "/clear", "/services", "/nope"]),
                           "entities": st.just([{"type": "bot_command", "offset": 0, "length": 1}])}),
    st.fixed_dictionaries({"sticker": file.map(lambda f: {**f, "type": "regular", "width": 1,
                                                          "height": 1, "is_animated": False,
                                                          "is_video": False})}),
    st.fixed_dictionaries({"photo": st.lists(file.map(lambda f: {**f, "width": 1, "height": 1}),
                                             min_size=1, max_size=2)},
                          optional={"caption": texts}),
    st.fixed_dictionaries({"voice": file.map(lambda f: {**f, "duration": 1})}),
    st.fixed_dictionaries({"document": file}, optional={"caption": texts}),
    st.fixed_dictionaries({"location": st.fixed_dictionaries(
        {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)})}),
    st.just({}),  # a message with no content at all
)


@st.composite
def messages(draw):
    body = draw(bodies)
    if "entities" in body:
        body = {**body, "entities": [{"type": "bot_command", "offset": 0,
                                      "length": len(body["text"])}]}
    return {"message_id": draw(st.integers(1, 10**9)), "date": draw(st.integers(0, 2**31)),
            "chat": draw(chats), "from": draw(users), **body}


_update_ids = itertools.count(1)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)

updates = st.one_of(
    messages().map(lambda m: {"message": m}),
    messages().map(lambda m: {"edited_message": {**m, "edit_date": m["date"]}}),
    messages().map(lambda m: {"channel_post": m}),
    st.builds(lambda u, m, data: {"callback_query": {"id": "q", "from": u, "chat_instance": "c",
                                                     "data": data, "message": m}},
              users, messages(), st.one_of(texts, st.sampled_from(["/affirm", "/deny"]))),
    st.dictionaries(st.sampled_from(["message", "poll", "my_chat_member", "whatever", "inline_query"]),
                    json_values, max_size=2),  # malformed or unexpected
).map(lambda update: {"update_id": next(_update_ids), **update})  # unique, as Telegram's are


@pytest.fixture(scope="module")
def adapter(engine, loop, tmp_path_factory):
    """The real PTB application, in the test's event loop, polling a stand-in."""
    standin = TelegramStandIn().start()
    settings_ = Settings(token="123456789:" + "F" * 35, base_url=standin.base_url,
                         max_messages_per_second=100_000,
                         state_dir=tmp_path_factory.mktemp("fuzz-state"))
    replies = FixedReplies.build(content.load_directory(), settings_.retention_days)

    async def load():
        return engine

    app = build_application(settings_, load, replies, Pseudonyms(b"fuzz" * 8))
    errors: list[BaseException] = []

    async def record(update, context):
        errors.append(context.error)

    app.add_error_handler(record)
    loop.run_until_complete(app.initialize())
    loop.run_until_complete(app.post_init(app))
    loop.run_until_complete(app.start())
    loop.run_until_complete(app.updater.start_polling(poll_interval=0, timeout=1))
    yield app, standin, errors
    loop.run_until_complete(app.updater.stop())
    loop.run_until_complete(app.stop())
    loop.run_until_complete(app.post_stop(app))
    loop.run_until_complete(app.shutdown())
    standin.stop()


async def deliver(standin: TelegramStandIn, update: dict) -> dict:
    """Hand ``update`` to the bot as Telegram would, and wait until it is confirmed."""
    pushed = standin.push(update)
    await asyncio.to_thread(standin.wait_until, lambda: standin.confirmed(pushed), 120)
    return pushed


def _typed(data: dict) -> tuple[str, str]:
    """The words a person typed in an update, and the kind of chat ("" if none)."""
    message = next((data[k] for k in ("message", "edited_message", "channel_post")
                    if isinstance(data.get(k), dict)), {})
    words = message.get("text") if isinstance(message.get("text"), str) else message.get("caption")
    words = words if isinstance(words, str) else ""
    head = words.split(None, 1)[:1]
    if head and head[0].lstrip("/") in {name for name, _ in COMMANDS} and head[0][:1] == "/":
        words = "".join(words.split(None, 1)[1:])  # "/help" asks for the menu, not for help now
    return words, str((message.get("chat") or {}).get("type"))


@given(data=updates)
@settings(max_examples=ADAPTER_EXAMPLES, **SETTINGS)
def test_the_adapter_survives_any_update(adapter, loop, data):
    app, standin, errors = adapter
    sent_before = len(standin.calls_to("sendMessage"))
    data = json.loads(json.dumps(data))
    try:
        Update.de_json(json.loads(json.dumps(data)), app.bot)  # PTB changes what it reads
    except Exception:
        return  # PTB itself refuses JSON that is not an update; Telegram sends none such
    data.pop("update_id")  # the stand-in numbers updates, as Telegram does
    loop.run_until_complete(deliver(standin, data))
    assert errors == [], errors
    sent = [c for c in standin.calls_to("sendMessage")[sent_before:] if c.status == 200]
    assert all(len(call.params["text"]) <= TELEGRAM_LIMIT for call in sent)
    words, chat_type = _typed(data)
    message = data.get("message") or {}
    if chat_type == "private" and isinstance(message.get("text"), str):
        assert sent, "a text went unanswered"
    signal = safety.assess(words)
    if signal and chat_type in ("private", "group", "supergroup", "channel"):
        assert opens_safely([c.params["text"] for c in sent], signal), (words[:80], sent[:1])
