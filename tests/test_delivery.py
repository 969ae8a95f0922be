"""No stalls and no chat holding up the others: the real PTB application, in this
process, polling the Bot API stand-in, with engines that answer at once."""

from __future__ import annotations

import asyncio
import logging
import math

import pytest
from telegram import Update

from bot.channels.telegram.delivery import FLOOD_BACKLOG, PerChatOrder
from bot.engine import Reply
from support.telegram_app import run_in_process
from tools.telegram_standin import TelegramStandIn, text_update

TOKEN = "123456789:" + "D" * 35
KEY = "delivery-test-key-of-at-least-32-bytes"


class Engine:
    """Answers every message at once with one message naming it, and remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def respond(self, conversation: str, text: str) -> list[Reply]:
        self.seen.append(text)
        return [Reply(f"answer to {text}")]

    async def crisis_reply(self, text: str):
        return None

    async def forget(self, conversation: str) -> None:
        pass

    async def forget_inactive(self, seconds: float) -> int:
        return 0


@pytest.fixture
def standin():
    server = TelegramStandIn().start()
    yield server
    server.stop()


def run_adapter(standin: TelegramStandIn, engine: Engine, test, **settings) -> None:
    run_in_process(standin, engine, test, token=TOKEN, key=KEY, **settings)


def test_a_chat_whose_sends_always_fail_does_not_stall_150_later_updates(standin, caplog):
    engine = Engine()
    stuck, others = 880_001, list(range(880_100, 880_250))

    def test():
        standin.fail("sendMessage", 502, chat_id=stuck, times=math.inf)
        first = standin.push(text_update(stuck, standin.next_message_id(), "hello"))
        for chat in others:
            standin.push(text_update(chat, standin.next_message_id(), "hi"))
        for chat in others:
            assert standin.wait_for_messages(chat, 1, timeout=120) == ["answer to hi"]
        standin.wait_until(lambda: standin.confirmed(first), 60)  # given up: the offset moved on
        assert standin.sent_to(stuck) == []

    with caplog.at_level(logging.INFO):
        run_adapter(standin, engine, test, send_retry_seconds=0.3, give_up_seconds=2)
    assert "it is given up" in caplog.text
    assert "hello" not in caplog.text


def test_a_flood_from_one_chat_does_not_hold_up_ten_others_and_danger_is_never_skipped(standin):
    engine = Engine()
    flood, others = 881_001, list(range(881_100, 881_110))
    danger = "a child is being hurt right now"
    texts = [danger if n == 300 else f"flood {n}" for n in range(600)]

    def test():
        for text in texts:
            standin.push(text_update(flood, standin.next_message_id(), text))
        for chat in others:
            standin.push(text_update(chat, standin.next_message_id(), "hi"))
        for chat in others:
            standin.wait_for_messages(chat, 1, timeout=60)
        # Answered while the flood was still being read: without coalescing every
        # one of the flood's messages before them is answered first.
        assert sum(text.startswith("flood") for text in engine.seen) < 100
        last = f"answer to flood 599"
        standin.wait_until(lambda: last in standin.texts_to(flood), 60)
        sent = standin.texts_to(flood)
        assert f"answer to {danger}" in sent, "a message that signals danger was skipped"
        assert any("I read one message at a time" in text for text in sent)
        # The latest messages are answered, in order.
        latest = [f"answer to flood {n}" for n in range(600 - FLOOD_BACKLOG, 600)]
        assert [t for t in sent if t in latest] == latest

    run_adapter(standin, engine, test)


def test_a_chat_waiting_its_turn_takes_no_concurrency_slot():
    """One chat with more updates waiting than there are slots leaves room for another chat."""
    async def main():
        order = PerChatOrder(settle=lambda update, giving_up=False: True, confirm=lambda u: None,
                             max_concurrent_updates=2)
        release, done = asyncio.Event(), []

        def update(chat: int, n: int) -> Update:
            return Update.de_json({"update_id": chat * 100 + n, **text_update(
                chat, n, "/start")}, None)

        async def work(name: str, wait: bool) -> None:
            if wait:
                await release.wait()
            done.append(name)

        busy = [asyncio.create_task(order.process_update(update(1, n), work(f"busy{n}", True)))
                for n in range(5)]
        other = asyncio.create_task(order.process_update(update(2, 1), work("other", False)))
        await asyncio.wait_for(other, 10)
        assert done == ["other"]
        release.set()
        await asyncio.gather(*busy)
        assert done == ["other"] + [f"busy{n}" for n in range(5)]

    asyncio.run(main())
