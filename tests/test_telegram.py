"""The Telegram adapter, driven as Telegram would drive it, on loopback.

The real adapter (python-telegram-bot, the real trained model) runs against a
stand-in for the Bot API (tools/telegram_standin.py); nothing reaches Telegram.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import sqlite3
import stat
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
from rasa.shared.core.events import UserUttered
from bot.channels.telegram.fixed_replies import FixedReplies
from bot.channels.telegram.pseudonyms import Pseudonyms
from bot.channels.telegram.splitting import TELEGRAM_LIMIT, split_message
from bot.channels.telegram.pseudonyms import BadKey, load_key
from bot.channels.telegram.app import (COMMANDS, Settings, SettingsError,
                              prepare_state_dir, webhook_secret_for)
from bot.channels.telegram.ledger import HandledUpdates
from bot.safety import Signal
from conftest import opens_safely, write_endpoints
from support import telegram_app as in_process
from tools.local_servers import free_port, wait_for_port
from tools.telegram_standin import TelegramStandIn, button_update, message, text_update

TOKEN = "123456789:" + "T0kenT0kenT0kenT0kenT0kenT0ken12"
KEY = "test-pseudonym-key-of-at-least-32-bytes"
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
        env=environment, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=lambda: os.umask(0o022))  # a common umask: files readable by all
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
    assert opens_safely(Chat(standin).say("please help he wont let me leave the flat"))


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
    assert "999" in chat.say("/whatever")[0]  # read as text: the fallback


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
    assert opens_safely(chat.send(update))


@pytest.mark.slow
def test_edited_messages_are_answered(polling, standin):
    chat = Chat(standin)
    edited = {"edited_message": {**message(chat.id, standin.next_message_id(), text="hello"),
                                 "edit_date": int(time.time())}}
    assert "edited a message" in chat.send(edited)[0]
    danger = {"edited_message": {**message(chat.id, standin.next_message_id(),
                                           text="he is hurting me"), "edit_date": int(time.time())}}
    first, second = chat.send(danger, replies=2)
    assert opens_safely([first]) and "edited a message" in second


@pytest.mark.slow
def test_group_chats_are_told_once_that_the_bot_is_private(polling, standin):
    group = -new_chat()
    pushed = [standin.push(text_update(group, standin.next_message_id(), "hello bot",
                                       chat_type="group")) for _ in range(3)]
    standin.wait_until(lambda: standin.confirmed(pushed[-1]))  # all three handled
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
@pytest.mark.parametrize("status, retry_after", [(429, 1), (502, None)], ids=["429", "502"])
def test_a_send_that_fails_once_is_retried_and_the_answer_itself_arrives(
        polling, standin, status, retry_after):
    chat = Chat(standin)
    standin.fail("sendMessage", status, chat_id=chat.id, retry_after=retry_after)
    (answer,) = chat.say("how do i report a concern about a child")
    assert "101" in answer and "something went wrong" not in answer.lower()
    tries = [c.status for c in standin.calls_to("sendMessage") if int(c.params["chat_id"]) == chat.id]
    assert tries == [status, 200]


@pytest.mark.slow
def test_a_chat_is_answered_while_another_chats_reply_is_still_on_its_way(polling, standin):
    waiting, other = Chat(standin), Chat(standin)
    release = standin.hold(waiting.id)
    try:
        standin.push(text_update(waiting.id, standin.next_message_id(), "how do i report abuse"))
        standin.wait_until(lambda: standin.sent_to(waiting.id))  # its send is stuck in transit
        assert "101" in other.say("how do i report a concern about a child")[0]
        assert [c.done for c in standin.sent_to(waiting.id)] == [None]  # still stuck
    finally:
        release()
    standin.wait_until(lambda: all(c.done for c in standin.sent_to(waiting.id)))


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


@pytest.mark.slow
def test_state_and_conversations_are_readable_by_their_owner_only(polling, standin):
    Chat(standin).say("hello")
    state = polling.folder / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = [*state.iterdir(), *polling.folder.glob("conversations.db*")]
    assert {f.name for f in files} >= {"telegram-updates.db", "conversations.db",
                                       "conversations.db-wal"}
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}


def test_an_existing_state_directory_is_made_private(tmp_path):
    state = tmp_path / "var"
    state.mkdir(mode=0o755)
    (state / "old.db").write_text("")
    (state / "old.db").chmod(0o644)
    prepare_state_dir(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "old.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("key", ["", "x", "k" * 31])
def test_a_short_pseudonym_key_file_is_refused(tmp_path, key):
    (tmp_path / "pseudonym.key").write_text(key)
    with pytest.raises(BadKey, match="empty or shorter than 32 bytes"):
        load_key({}, tmp_path / "pseudonym.key")


def test_a_new_pseudonym_key_is_written_whole_and_private(tmp_path):
    key_file = tmp_path / "var" / "pseudonym.key"
    key = load_key({}, key_file)
    assert len(key) == 64 and load_key({}, key_file) == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["pseudonym.key"]  # nothing partial
    with pytest.raises(BadKey, match="SIGNPOST_ID_KEY is shorter than 32 bytes"):
        load_key({"SIGNPOST_ID_KEY": "short"}, key_file)


@pytest.mark.slow
def test_a_short_pseudonym_key_ends_the_process_with_one_line(model, own_standin, tmp_path):
    process = start_adapter(model, tmp_path, own_standin, SIGNPOST_ID_KEY="k" * 31)
    try:
        log = _ends_with_one_line(process, "SIGNPOST_ID_KEY is shorter than 32 bytes",
                                  within=STARTUP_TIMEOUT)
        assert process.returncode == 2 and len(log.strip().splitlines()) == 1
    finally:
        stop_adapter(process)


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
    for weak in ("no spaces but long enough to pass!", "x", "a" * 31):
        with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET must be 32 to 256"):
            Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": weak})


def test_without_a_secret_every_instance_derives_the_same_one_and_listens_on_loopback():
    first, second = (Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}) for _ in range(2))
    assert first.webhook_secret == second.webhook_secret == webhook_secret_for(TOKEN)
    assert len(first.webhook_secret) >= 32 and TOKEN.split(":")[1] not in first.webhook_secret
    other = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN[:-1] + "X"})
    assert other.webhook_secret != first.webhook_secret
    assert first.listen == "127.0.0.1" and first.webhook_url is None


# --- failing loudly -------------------------------------------------------------------


def _ends_with_one_line(process: subprocess.Popen, expected: str, within: float) -> str:
    process.wait(timeout=within)
    log = process.log_path.read_text()
    assert process.returncode not in (0, None), log[-3000:]
    assert log.strip().splitlines()[-1].startswith(f"signpost: {expected}"), log[-3000:]
    assert "Traceback" not in log and TOKEN not in log
    return log


@pytest.mark.slow
def test_a_token_revoked_while_polling_ends_the_process_with_one_line(model, own_standin, tmp_path):
    standin = own_standin
    process = start_adapter(model, tmp_path, standin)
    try:
        standin.wait_until(lambda: standin.calls_to("setMyCommands") or process.poll() is not None,
                           STARTUP_TIMEOUT)
        assert "101" in Chat(standin).say("how do i report abuse")[0]
        standin.fail("getUpdates", 401, times=math.inf)
        _ends_with_one_line(process, "Telegram refused the bot token", within=60)
    finally:
        stop_adapter(process)


@pytest.mark.slow
def test_a_refused_token_at_start_ends_the_process_with_one_line(model, own_standin, tmp_path):
    own_standin.fail("getMe", 401, times=math.inf)
    process = start_adapter(model, tmp_path, own_standin)
    try:
        _ends_with_one_line(process, "Telegram refused the bot token", within=STARTUP_TIMEOUT)
    finally:
        stop_adapter(process)


@pytest.mark.slow
def test_an_unusable_state_directory_ends_the_process_with_one_line(model, own_standin, tmp_path):
    (tmp_path / "a-file").write_text("")
    process = start_adapter(model, tmp_path, own_standin,
                            SIGNPOST_STATE_DIR=str(tmp_path / "a-file" / "state"))
    try:
        log = _ends_with_one_line(process, "The state directory", within=STARTUP_TIMEOUT)
        assert process.returncode == 2 and len(log.strip().splitlines()) == 1
    finally:
        stop_adapter(process)


def test_a_ledger_that_cannot_be_written_does_not_stall_polling(own_standin, tmp_path, caplog):
    standin = own_standin

    def test():
        chat = Chat(standin)
        assert "answer to one" in chat.say("one")[0]
        with sqlite3.connect(tmp_path / "telegram-updates.db", timeout=5) as other:
            other.execute("BEGIN EXCLUSIVE")  # another process holds the file
            assert "answer to two" in chat.say("two")[0]
            assert "answer to three" in chat.say("three")[0]
            other.rollback()
        assert "answer to four" in chat.say("four")[0]
    run_in_process(standin, MisbehavingEngine(slow), test, timeout=5, state_dir=tmp_path)
    assert "The update ledger could not be used (OperationalError)" in caplog.text


def test_the_ledger_is_per_bot_and_forgets_what_telegram_will_not_send_again(tmp_path):
    path = tmp_path / "telegram-updates.db"
    bot, new_token = HandledUpdates(path, 111), HandledUpdates(path, 222)
    bot.add(5)
    bot.add(9)
    assert 5 in bot and 5 not in new_token  # a new bot on the same files skips nothing
    bot.forget_before(9)  # Telegram was asked for offset 9: it forgets everything before
    assert 5 not in bot and 9 in bot
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN}).bot_id == 123456789


# --- webhook mode -------------------------------------------------------------------


def _wait_until_listening(port: int, process: subprocess.Popen) -> None:
    """PTB registers the webhook before its server listens, so seeing setWebhook is not enough."""
    try:
        wait_for_port(port, STARTUP_TIMEOUT)
    except TimeoutError:
        raise AssertionError(process.log_path.read_text()[-3000:]) from None


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
    # No TELEGRAM_WEBHOOK_SECRET and no WEBHOOK_LISTEN: derived from the token, on loopback.
    port, secret = free_port(), webhook_secret_for(TOKEN)
    url = f"http://127.0.0.1:{port}/telegram-hook"
    set_before = len(standin.calls_to("setWebhook"))
    process = start_adapter(model, tmp_path, standin, WEBHOOK_URL=url, WEBHOOK_PORT=str(port))
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
        assert opens_safely([reply])
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


def run_in_process(standin: TelegramStandIn, engine: MisbehavingEngine, test, timeout: float = 0.5,
                   send_retry: float = 30.0, state_dir: Path | None = None, loop=None):
    """The real PTB application in this process, polling the stand-in."""
    extra = {"state_dir": state_dir} if state_dir else {}
    in_process.run_in_process(standin, engine, test, token=TOKEN, key=KEY, loop=loop,
                              reply_timeout=timeout, send_retry_seconds=send_retry, **extra)


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


def test_an_answer_that_cannot_be_sent_is_replaced_by_the_fail_safe(own_standin):
    standin = own_standin

    def test():
        chat = Chat(standin)
        standin.fail("sendMessage", 502, chat_id=chat.id, times=math.inf,
                     when=lambda params: "answer to" in params["text"])
        (failsafe,) = chat.say("hello")
        assert all(n in failsafe for n in ("999", "101", "0800 1111"))
        assert [c.status for c in standin.calls_to("sendMessage")
                if int(c.params["chat_id"]) == chat.id][-1] == 200
    run_in_process(standin, MisbehavingEngine(slow), test, send_retry=0.5)


def test_when_nothing_can_be_sent_the_update_is_answered_later_without_asking_again(own_standin):
    standin = own_standin
    engine = MisbehavingEngine(slow)

    def test():
        chat = Chat(standin)
        # Two tries of the answer, then two of the fail-safe, all fail: the update
        # is handled again after a pause, and then the answer itself goes out.
        standin.fail("sendMessage", 502, chat_id=chat.id, times=4)
        standin.push(text_update(chat.id, standin.next_message_id(), "first"))
        standin.push(text_update(chat.id, standin.next_message_id(), "second"))
        texts = standin.wait_for_messages(chat.id, 2)
        assert texts == ["answer to first", "answer to second"]
        statuses = [c.status for c in standin.calls_to("sendMessage")
                    if int(c.params["chat_id"]) == chat.id]
        assert statuses == [502] * 4 + [200] * 2
        assert [t for _, t in engine.seen] == ["first", "second"]  # the engine asked once each
    run_in_process(standin, engine, test, send_retry=0.5)


def test_a_chat_that_blocked_the_bot_is_given_up_not_retried(own_standin):
    standin = own_standin

    def test():
        chat = Chat(standin)
        blocked = standin.fail("sendMessage", 403, chat_id=chat.id, times=math.inf)
        standin.push(text_update(chat.id, standin.next_message_id(), "hello"))
        standin.wait_until(lambda: any(int(c.params["chat_id"]) == chat.id
                                       for c in standin.calls_to("sendMessage")))
        blocked.times = 0  # unblocked: the next message is answered, the old one is not retried
        assert chat.say("again") == ["answer to again"]
        statuses = [c.status for c in standin.calls_to("sendMessage")
                    if int(c.params["chat_id"]) == chat.id]
        assert statuses == [403, 200]
    run_in_process(standin, MisbehavingEngine(slow), test)


# --- every text reaches safety: the real engine, in this process ------------------------


@pytest.fixture
def real(engine, loop, own_standin):
    """run(test): the real PTB application and the real engine, polling a stand-in."""
    return lambda test: run_in_process(own_standin, engine, test, timeout=30, loop=loop)


def test_danger_behind_an_unknown_command_gets_999_first_and_samaritans(real, own_standin):
    def test():
        replies = Chat(own_standin).say("/kill myself tonight")
        assert opens_safely(replies, Signal.SELF_HARM) and "116 123" in replies[0], replies
    real(test)


def test_danger_after_a_known_command_gets_the_emergency_answer_then_the_command(
        real, own_standin):
    emergency = FixedReplies.build(content.load_directory(), 7).emergency

    def test():
        chat = Chat(own_standin)
        first, second = chat.say("/help he is hurting me right now", replies=2)
        assert first == emergency and "I can:" in second
        assert "I can:" in chat.say("/help what can you do")[0]
        assert "/forget" in chat.say("/privacy")[0]
        assert len(own_standin.texts_to(chat.id)) == 4  # no crisis answer without danger
    real(test)


def test_an_edited_command_runs_nothing_and_edited_danger_gets_999_first(
        real, own_standin, engine, loop):
    def test():
        chat = Chat(own_standin)
        chat.say("hello")
        edit = {"edited_message": {**message(chat.id, own_standin.next_message_id(),
                                             text="/forget"), "edit_date": int(time.time()),
                                   "entities": [{"type": "bot_command", "offset": 0, "length": 7}]}}
        (reply,) = chat.send(edit)
        assert "edited a message" in reply and "erased" not in reply
        danger = {"edited_message": {**message(chat.id, own_standin.next_message_id(),
                                               text="/start he is hurting me right now"),
                                     "edit_date": int(time.time()),
                                     "entities": [{"type": "bot_command", "offset": 0,
                                                   "length": 6}]}}
        first, second = chat.send(danger, replies=2)
        assert opens_safely([first]) and "edited a message" in second
        return chat
    chats = []
    real(lambda: chats.append(test()))
    pseudonym = Pseudonyms(KEY.encode()).of(chats[0].id)
    tracker = loop.run_until_complete(engine._agent.tracker_store.retrieve(pseudonym))
    assert any(isinstance(e, UserUttered) for e in tracker.events)  # "hello" is remembered


def test_danger_in_a_group_gets_999_after_the_notice_has_gone_out(real, own_standin):
    def test():
        group = -new_chat()
        said = [own_standin.push(text_update(group, own_standin.next_message_id(), text,
                                             chat_type="group"))
                for text in ("hello bot", "hello again", "he is hurting me right now")]
        own_standin.wait_until(lambda: own_standin.confirmed(said[-1]))
        notice, danger = own_standin.texts_to(group)
        assert "only talk in private chats" in notice and opens_safely([danger])
    real(test)


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


@pytest.mark.slow
def test_language_command_offers_languages_and_a_button_gives_the_card(polling, standin):
    chat = Chat(standin)
    chat.say("/language")
    markup = standin.sent_to(chat.id)[-1].params["reply_markup"]["inline_keyboard"]
    urdu = '/choose_language{"language": "ur"}'
    assert urdu in [row[0]["callback_data"] for row in markup]
    (card,) = chat.send(button_update(chat.id, standin.next_message_id(), urdu))
    # Right to left, with the number isolated so it is not reordered.
    assert card.startswith("\u200fاگر کوئی") and "\u2066999\u2069" in card
    first = chat.say("he wont let me leave the flat")[0]
    assert first.startswith("\u200fاگر کوئی") and "call 999" in first  # remembered
