"""Scale-out for real: two bot instances behind one URL, sharing PostgreSQL and Redis.

The test starts its own PostgreSQL and Redis servers (Debian's packages) on
loopback, and two `python -m bot telegram` instances in webhook mode whose
endpoints file names Rasa's SQLTrackerStore (PostgreSQL) and our atomic Redis
lock store (bot.rasa_plugins.lock_store).
One conversation alternates between the instances and must keep its state and
its order. Without PostgreSQL and Redis installed, it is skipped with the
command that installs them (see docs/deploying.md, "Scaling out").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tools import local_servers
from tools.local_servers import free_port, wait_for_port
from bot.channels.telegram.pseudonyms import Pseudonyms
from tools.telegram_standin import TelegramStandIn, text_update

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not local_servers.available(),
                                 reason=f"needs PostgreSQL and Redis: {local_servers.INSTALL}")]

TOKEN = "123456789:" + "S" * 35
SECRET = "scale-out-secret-shared-by-both-instances"
KEY = "shared-between-instances-of-32-bytes"


@pytest.fixture(scope="module")
def postgres():
    with local_servers.postgres() as port:
        yield port


@pytest.fixture(scope="module")
def redis():
    with local_servers.redis() as port:
        yield port


@pytest.fixture(scope="module")
def instances(model, postgres, redis, tmp_path_factory):
    standin = TelegramStandIn().start()
    folder = tmp_path_factory.mktemp("instances")
    endpoints = local_servers.scale_out_endpoints(folder / "endpoints.yml", postgres, redis)
    started = []
    for name in ("a", "b"):
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram"
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": standin.base_url,
               "SIGNPOST_ID_KEY": KEY, "WEBHOOK_URL": url,
               "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port),
               "TELEGRAM_WEBHOOK_SECRET": SECRET, "SIGNPOST_STATE_DIR": str(folder / name)}
        log = open(folder / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, "-m", "bot", "telegram", "--model", str(model),
                                    "--endpoints", str(endpoints)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        started.append((process, url, folder / f"{name}.log"))
    try:
        for process, url, log in started:
            wait_for_port(int(url.split(":")[2].split("/")[0]), timeout=240)
            assert process.poll() is None, log.read_text()[-3000:]
        yield standin, [url for _, url, _ in started]
    finally:
        for process, _, _ in started:
            process.terminate()
            process.wait(timeout=30)
        standin.stop()


def post(url: str, update: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers={
        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def test_one_conversation_alternating_between_instances_keeps_its_state_and_order(
        instances, postgres):
    standin, (first, second) = instances
    chat, update_ids = 777_001, iter(range(1, 1000))

    def say(url: str, text: str) -> str:
        before = len(standin.sent_to(chat))
        assert post(url, {"update_id": next(update_ids),
                          **text_update(chat, standin.next_message_id(), text)}) == 200
        return standin.wait_for_messages(chat, before + 1, timeout=60)[before]

    assert "danger right now" in say(first, "im worried about my daughter")
    # The second instance knows the question was asked: the state is shared.
    assert "When nobody is in immediate danger" in say(second, "no")
    assert "automated chatbot" in say(first, "hello")

    # The rest of the conversation alternates too, each message sent after the
    # previous reply, as a person would; the shared store keeps them in order.
    texts = ["how do i report a concern about a child", "what is the urn", "are you a bot",
             "what helplines are there", "thanks", "bye"]
    expected_starts = ["You can report a worry", "Thames Valley Police's 2015 statement",
                       # "my daughter" earlier, on the other instance: the parent's list.
                       "I'm an automated chatbot", "Services for you and your child", "You're welcome",
                       "Take care"]
    for n, (text, start) in enumerate(zip(texts, expected_starts, strict=True)):
        assert say((first, second)[n % 2], text).startswith(start)

    stored = user_messages(postgres, Pseudonyms(KEY.encode()).of(chat))
    assert stored == ["im worried about my daughter", "no", "hello", *texts]


def user_messages(port: int, sender: str) -> list[str]:
    """The user's messages as PostgreSQL holds them, in the order they were stored."""
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=port, dbname="signpost", user="postgres") as db:
        with db.cursor() as cursor:
            cursor.execute("SELECT data FROM events WHERE sender_id = %s AND type_name = 'user' "
                           "ORDER BY id", (sender,))
            return [json.loads(data)["text"] for (data,) in cursor.fetchall()]


def test_one_update_delivered_to_both_instances_is_answered_once(instances):
    import concurrent.futures

    standin, (first, second) = instances
    chat = 777_002
    update = {"update_id": 5000, **text_update(chat, standin.next_message_id(), "hello")}
    # A retry reaching the other instance: both get it, at the same moment.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        assert list(pool.map(lambda url: post(url, update), (first, second))) == [200, 200]
    greeting = standin.wait_for_messages(chat, 1, timeout=60)[0]
    # ... and again later, once it was answered.
    assert post(second, update) == 200 and post(first, update) == 200
    then = {"update_id": 5001, **text_update(chat, standin.next_message_id(), "thanks")}
    assert post(first, then) == 200
    standin.wait_until(lambda: any("welcome" in t for t in standin.texts_to(chat)), 60)
    assert standin.texts_to(chat).count(greeting) == 1


def test_the_postgresql_ledger_is_shared_and_hands_a_pending_update_to_one_instance(postgres):
    from bot.channels.telegram.ledger import PostgresLedger

    dsn = f"host=127.0.0.1 port={postgres} dbname=signpost user=postgres"
    a, b = PostgresLedger(dsn, 42, "a"), PostgresLedger(dsn, 42, "b")
    assert a.hold(1, '{"update_id": 1}') is True
    assert b.hold(1, '{"update_id": 1}') is False  # taken by a
    assert b.take_pending() == [] and a.take_pending() == [(1, '{"update_id": 1}')]
    a.add(1)
    assert 1 in b and a.take_pending() == []
    assert b.hold(1, '{"update_id": 1}') is False  # answered
