"""The Telegram adapter, driven as Telegram would drive it, on loopback.

The real adapter (python-telegram-bot, the real trained model) runs against a
stand-in for the Bot API (tests/telegram_standin.py); nothing reaches Telegram.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import json
from pathlib import Path

import pytest

from bot import content
from bot.engine import Button, Reply
from bot.fixed_replies import FixedReplies
from bot.pseudonyms import Pseudonyms
from bot.splitting import TELEGRAM_LIMIT, split_message
from bot.telegram_bot import COMMANDS, Settings, SettingsError, build_application
from conftest import write_endpoints
from bot.telegram_standin import TelegramStandIn, button_update, message, text_update

TOKEN = "123456789:" + "T0kenT0kenT0kenT0kenT0kenT0ken12"
KEY = "test-pseudonym-key"
STARTUP_TIMEOUT = 240
_chat_ids = itertools.count(500_001)


def new_chat() -> int:
    return next(_chat_ids)


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin():
    server = TelegramStandIn().start()
    yield server
    server.stop()


def start_adapter(model, folder: Path, standin: TelegramStandIn, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN,
                   "TELEGRAM_API_BASE_URL": standin.base_url, "SIGNPOST_ID_KEY": KEY,
                   "SIGNPOST_STATE_DIR": str(folder / "state"), **env}
    log = open(folder / "adapter.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "telegram", "--model", str(model),
         "--endpoints", str(write_endpoints(folder))],
        env=environment, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = folder / "adapter.log"
    return process


def stop_adapter(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def polling(model, standin, tmp_path_factory):
    """The adapter in polling mode, as `python -m bot telegram` runs it."""
    folder = tmp_path_factory.mktemp("polling")
    ready = len(standin.calls_to("setMyCommands"))
    process = start_adapter(model, folder, standin)
    standin.wait_until(lambda: len(standin.calls_to("setMyCommands")) > ready
                       or process.poll() is not None, STARTUP_TIMEOUT)
    assert process.poll() is None, process.log_path.read_text()[-3000:]
    process.folder = folder
    yield process
    stop_adapter(process)


class Chat:
    """One private chat with the bot, through the stand-in."""

    def __init__(self, standin: TelegramStandIn, chat_id: int | None = None):
        self.standin, self.id = standin, chat_id or new_chat()

    def say(self, text: str, replies: int = 1, timeout: float = 60) -> list[str]:
        before = len(self.standin.sent_to(self.id))
        self.standin.push(text_update(self.id, self.standin.next_message_id(), text))
        return self.standin.wait_for_messages(self.id, before + replies, timeout)[before:]

    def send(self, update: dict, replies: int = 1) -> list[str]:
        before = len(self.standin.sent_to(self.id))
        self.standin.push(update)
        return self.standin.wait_for_messages(self.id, before + replies)[before:]


# --- polling, end to end with the real model ------------------------------------------


@pytest.mark.slow
def test_start_greets_and_says_what_the_bot_is_not(polling, standin):
    (greeting,) = Chat(standin).say("/start")
    assert "automated chatbot" in greeting and "not an emergency service" in greeting
    assert "no person reads these messages" in greeting and "999" in greeting


@pytest.mark.slow
def test_danger_gets_999_first(polling, standin):
    first = Chat(standin).say("please help he wont let me leave the flat")[0]
    assert first.startswith("If you or anyone else is in danger right now, call 999")


@pytest.mark.slow
def test_reporting_question_gets_101(polling, standin):
    (answer,) = Chat(standin).say("how do i report a concern about a child")
    assert "101" in answer


@pytest.mark.slow
def test_commands_are_registered_for_the_menu(polling, standin):
    registered = standin.calls_to("setMyCommands")[-1].params["commands"]
    assert [c["command"] for c in registered] == [name for name, _ in COMMANDS]


@pytest.mark.slow
def test_every_command_answers(polling, standin):
    chat = Chat(standin)
    assert "I can:" in chat.say("/help")[0]
    emergency = chat.say("/emergency")[0]
    assert all(n in emergency for n in ("999", "55", "18000"))
    services = chat.say("/services", replies=2)
    assert "0800 1111" in "".join(services) and all(len(s) <= TELEGRAM_LIMIT for s in services)
    privacy = chat.say("/privacy")[0]
    assert "/forget" in privacy and "7 days" in privacy
    assert "erased this conversation" in chat.say("/forget")[0]
    assert "last 48 hours" in chat.say("/clear")[0]
    assert "don't know that command" in chat.say("/whatever")[0]


@pytest.mark.slow
def test_clear_asks_telegram_to_delete_recent_messages(polling, standin):
    chat = Chat(standin)
    chat.say("hello")
    before = len(standin.calls_to("deleteMessages"))
    clear_id = standin.next_message_id()
    standin.push(text_update(chat.id, clear_id, "/clear"))
    assert "last 48 hours" in standin.wait_for_messages(chat.id, 2)[-1]
    calls = [c for c in standin.calls_to("deleteMessages")[before:]
             if int(c.params["chat_id"]) == chat.id]
    assert all(len(c.params["message_ids"]) <= 100 for c in calls)
    ids = sorted(i for c in calls for i in c.params["message_ids"])
    assert ids == list(range(clear_id - 999, clear_id + 1))


@pytest.mark.slow
def test_button_press_sends_its_payload_and_answers_the_callback(polling, standin):
    chat = Chat(standin)
    (question,) = chat.say("im worried about my niece")
    markup = standin.sent_to(chat.id)[-1].params["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in markup] == ["/affirm", "/deny"]
    answered = len(standin.calls_to("answerCallbackQuery"))
    (reply,) = chat.send(button_update(chat.id, standin.next_message_id(), "/deny"))
    assert "101" in reply and "URN 165 18/2/15" in reply
    assert len(standin.calls_to("answerCallbackQuery")) > answered


@pytest.mark.slow
@pytest.mark.parametrize("kind", [
    {"sticker": {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512,
                 "height": 512, "is_animated": False, "is_video": False}},
    {"photo": [{"file_id": "p1", "file_unique_id": "u2", "width": 90, "height": 90}]},
    {"voice": {"file_id": "v1", "file_unique_id": "u3", "duration": 3}},
    {"document": {"file_id": "d1", "file_unique_id": "u4", "file_name": "a.pdf"}},
    {"location": {"latitude": 51.75, "longitude": -1.25}},
], ids=["sticker", "photo", "voice", "document", "location"])
def test_non_text_gets_a_text_only_answer_with_999(polling, standin, kind):
    chat = Chat(standin)
    (reply,) = chat.send({"message": message(chat.id, standin.next_message_id(), **kind)})
    assert "I can only read text" in reply and "999" in reply


@pytest.mark.slow
def test_a_photo_caption_is_read_as_text(polling, standin):
    chat = Chat(standin)
    photo = [{"file_id": "p2", "file_unique_id": "u5", "width": 90, "height": 90}]
    update = {"message": message(chat.id, standin.next_message_id(), photo=photo,
                                 caption="hes hurting her right now")}
    assert "999" in chat.send(update)[0]


@pytest.mark.slow
def test_edited_messages_are_answered(polling, standin):
    chat = Chat(standin)
    edited = {"edited_message": {**message(chat.id, standin.next_message_id(), text="hello"),
                                 "edit_date": int(time.time())}}
    assert "edited a message" in chat.send(edited)[0]
    danger = {"edited_message": {**message(chat.id, standin.next_message_id(),
                                           text="he is hurting me"), "edit_date": int(time.time())}}
    first, second = chat.send(danger, replies=2)
    assert "999" in first and "edited a message" in second


@pytest.mark.slow
def test_group_chats_are_told_once_that_the_bot_is_private(polling, standin):
    group = -new_chat()
    for _ in range(3):
        standin.push(text_update(group, standin.next_message_id(), "hello bot", chat_type="group"))
    standin.wait_for_messages(group, 1)
    time.sleep(1.5)
    (told,) = standin.texts_to(group)
    assert "only talk in private chats" in told


@pytest.mark.slow
def test_huge_odd_and_formatted_input_is_answered_safely(polling, standin):
    chat = Chat(standin)
    for text in ["a" * 20_000, "\x00\x07\x1b[31m\u202e\ufeff", "<b>bold</b> *star* _x_ [l](http://x)"]:
        replies = chat.say(text)
        assert replies and all(0 < len(r) <= TELEGRAM_LIMIT for r in replies)
    assert all("parse_mode" not in c.params for c in standin.sent_to(chat.id))


@pytest.mark.slow
def test_twenty_chats_writing_at_once_all_get_answers(polling, standin):
    chats = [Chat(standin) for _ in range(20)]
    for chat in chats:
        standin.push(text_update(chat.id, standin.next_message_id(), "how do i report abuse"))
    for chat in chats:
        (answer,) = standin.wait_for_messages(chat.id, 1, timeout=120)
        assert "101" in answer


@pytest.mark.slow
def test_forget_removes_the_stored_conversation(polling, standin):
    chat = Chat(standin)
    chat.say("hello")
    database = polling.folder / "conversations.db"
    pseudonym = Pseudonyms(KEY.encode()).of(chat.id)

    def stored() -> int:
        with sqlite3.connect(database) as db:
            return db.execute("select count(*) from events where sender_id = ?",
                              (pseudonym,)).fetchone()[0]

    assert stored() > 0
    chat.say("/forget")
    assert stored() == 0


@pytest.mark.slow
def test_no_raw_chat_id_name_text_or_token_is_stored_or_logged(polling, standin):
    chat = Chat(standin, chat_id=987_654_321)
    chat.say("my secret words are pineapple lighthouse")
    stored = (polling.folder / "conversations.db").read_bytes()
    for private in (b"987654321", b"sam_private_99", b"Private"):
        assert private not in stored
    log = polling.log_path.read_text()
    for private in ("987654321", "sam_private_99", "pineapple lighthouse", TOKEN, TOKEN.split(":")[1]):
        assert private not in log


# --- settings -----------------------------------------------------------------------


@pytest.mark.parametrize("token, expected", [
    ("", "TELEGRAM_BOT_TOKEN is not set"),
    ("not-a-token", "does not look like a bot token"),
])
def test_a_missing_or_malformed_token_gets_one_line_and_exit_code_2(token, expected):
    done = subprocess.run([sys.executable, "-m", "bot", "telegram"], capture_output=True, text=True,
                          env={**os.environ, "TELEGRAM_BOT_TOKEN": token}, timeout=120)
    assert done.returncode == 2
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_settings_reject_bad_numbers_and_secrets():
    with pytest.raises(SettingsError, match="WEBHOOK_PORT must be a number"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_PORT": "eighty"})
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET may only use"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "no spaces!"})
    generated = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert len(generated.webhook_secret) >= 32 and generated.webhook_url is None


# --- webhook mode -------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_listening(port: int, process: subprocess.Popen) -> None:
    """PTB registers the webhook before its server listens, so seeing setWebhook is not enough."""
    import socket

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.log_path.read_text()[-3000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the webhook server never listened on port {port}")


def _post(url: str, update: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_webhook_mode_accepts_only_requests_with_the_secret(model, standin, tmp_path):
    port, secret = _free_port(), "webhook-secret-for-tests"
    url = f"http://127.0.0.1:{port}/telegram-hook"
    set_before = len(standin.calls_to("setWebhook"))
    process = start_adapter(model, tmp_path, standin, WEBHOOK_URL=url, WEBHOOK_LISTEN="127.0.0.1",
                            WEBHOOK_PORT=str(port), TELEGRAM_WEBHOOK_SECRET=secret)
    try:
        standin.wait_until(lambda: len(standin.calls_to("setWebhook")) > set_before
                           or process.poll() is not None, STARTUP_TIMEOUT)
        assert process.poll() is None, process.log_path.read_text()[-3000:]
        registered = standin.calls_to("setWebhook")[-1].params
        assert registered["url"] == url and registered["secret_token"] == secret
        _wait_until_listening(port, process)

        chat = new_chat()
        assert _post(url, {"update_id": 1, **text_update(chat, 1, "hello")}, None) == 403
        assert _post(url, {"update_id": 2, **text_update(chat, 2, "hello")}, "wrong-secret") == 403

        update = {"update_id": 3, **text_update(chat, 3, "a child is being hurt right now")}
        assert _post(url, update, secret) == 200
        (reply,) = standin.wait_for_messages(chat, 1)
        assert "999" in reply
        # Updates are answered in order, so a rejected update that got through would have
        # been answered before this one.
        assert standin.texts_to(chat) == [reply]
    finally:
        stop_adapter(process)


# --- fail-safe and concurrency, with engines that misbehave ----------------------------


class MisbehavingEngine:
    """Stands in for the engine only to make it fail or stall on purpose."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.seen: list[tuple[str, str]] = []

    async def respond(self, conversation: str, text: str) -> list[Reply]:
        self.seen.append((conversation, text))
        return await self.behaviour(conversation, text)

    async def forget(self, conversation: str) -> None:
        raise RuntimeError("store unavailable")

    async def forget_inactive(self, seconds: float) -> int:
        return 0


async def broken(conversation, text):
    if text == "recover":
        return [Reply("I'm back")]
    raise RuntimeError("the model is broken")


GATE = threading.Event()


async def slow(conversation, text):
    if text == "never":
        await asyncio.sleep(3600)
    while text == "slow" and not GATE.is_set():
        await asyncio.sleep(0.01)
    return [Reply(f"answer to {text}", (Button("Yes", "/affirm"),))]


@pytest.fixture
def own_standin():
    """A stand-in of its own, so no other running adapter takes its updates."""
    server = TelegramStandIn().start()
    yield server
    server.stop()


def run_in_process(standin: TelegramStandIn, engine: MisbehavingEngine, test, timeout: float = 0.5):
    """Run the real PTB application in this process, polling the stand-in."""
    import tempfile

    settings = Settings(token=TOKEN, base_url=standin.base_url, reply_timeout=timeout,
                        state_dir=Path(tempfile.mkdtemp(prefix="signpost-state-")))
    replies = FixedReplies.build(content.load_directory(), settings.retention_days)

    async def load():
        return engine

    async def main():
        app = build_application(settings, load, replies, Pseudonyms(KEY.encode()))
        async with app:
            await app.post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0.05, timeout=1)
            try:
                await asyncio.get_running_loop().run_in_executor(None, test)
            finally:
                await app.updater.stop()
                await app.stop()
                await app.post_stop(app)

    asyncio.run(main())


def test_a_broken_engine_still_gets_the_safety_message_and_the_bot_keeps_serving(own_standin):
    standin = own_standin
    def test():
        chat = Chat(standin)
        (failsafe,) = chat.say("hello")
        assert all(n in failsafe for n in ("999", "101", "0800 1111"))
        assert "I'm back" in chat.say("recover")[0]
        assert "couldn't erase the conversation" in chat.say("/forget")[0]
    run_in_process(standin, MisbehavingEngine(broken), test)


def test_a_slow_engine_times_out_to_the_safety_message(own_standin):
    standin = own_standin
    def test():
        (failsafe,) = Chat(standin).say("never")
        assert all(n in failsafe for n in ("999", "101", "0800 1111"))
    run_in_process(standin, MisbehavingEngine(slow), test, timeout=0.5)


def test_one_slow_conversation_does_not_stall_the_others(own_standin):
    standin = own_standin
    def test():
        GATE.clear()
        slow_chat, quick_chat = Chat(standin), Chat(standin)
        standin.push(text_update(slow_chat.id, standin.next_message_id(), "slow"))
        # The slow chat is still waiting while the quick one is answered.
        assert "answer to quick" in quick_chat.say("quick")[0]
        assert standin.sent_to(slow_chat.id) == []
        GATE.set()
        assert standin.wait_for_messages(slow_chat.id, 1) == ["answer to slow"]
    run_in_process(standin, MisbehavingEngine(slow), test, timeout=60)


def test_messages_in_one_chat_are_handled_in_order(own_standin):
    standin = own_standin
    engine = MisbehavingEngine(slow)

    def test():
        chat = Chat(standin)
        for n in range(8):
            standin.push(text_update(chat.id, standin.next_message_id(), f"m{n}"))
        texts = standin.wait_for_messages(chat.id, 8)
        assert texts == [f"answer to m{n}" for n in range(8)]
        assert [t for _, t in engine.seen if t.startswith("m")] == [f"m{n}" for n in range(8)]
    run_in_process(standin, engine, test, timeout=5)


# --- splitting ------------------------------------------------------------------------


def test_long_replies_split_at_paragraphs_then_sentences():
    paragraph = "This is a sentence. " * 150
    pieces = split_message(f"{paragraph}\n\n{paragraph}\n\n{'word ' * 2000}")
    assert all(0 < len(p) <= TELEGRAM_LIMIT for p in pieces)
    assert pieces[0].endswith("sentence.") and pieces[1].startswith("This is")
    assert split_message("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]
    assert split_message("  ") == []


def test_fixed_replies_are_complete_and_take_numbers_from_the_directory():
    replies = FixedReplies.build(content.load_directory(), retention_days=7)
    for name, text in vars(replies).items():
        unfilled = [m.group(0) for m in content.PLACEHOLDER.finditer(text)]
        assert text and not unfilled, (name, unfilled)
        assert "999" in text or name in ("services", "forgotten", "cleared", "privacy"), name
    assert all(number in replies.failsafe for number in ("999", "101", "0800 1111"))
