"""The atomic Redis lock store, against a real Redis with two processes.

Each process takes the lock for one shared conversation many times and, while
holding it, reads a shared counter and writes it back one higher (with an
await in between, so an overlap would lose an increment) and records its
ticket. Without mutual exclusion increments are lost; with duplicate tickets
a number appears twice; out of order, the recorded tickets are not rising.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools import local_servers

pytestmark = pytest.mark.skipif(not local_servers.REDIS_SERVER,
                                reason=f"needs Redis: {local_servers.INSTALL}")

ROUNDS = 200

HAMMER = """
import asyncio, sys
import redis
from rasa.shared.utils.common import class_from_module_path

port, rounds, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
store = class_from_module_path(kind)(host="127.0.0.1", port=port, db=1)
red = redis.Redis(host="127.0.0.1", port=port, db=2)

async def main():
    red.incr("ready")
    while int(red.get("ready")) < 2:  # both processes start hammering together
        await asyncio.sleep(0)
    for _ in range(rounds):
        ticket = store.issue_ticket("one-conversation", 30)
        await store._acquire_lock("one-conversation", ticket, 1)
        try:
            value = int(red.get("counter") or 0)
            await asyncio.sleep(0)
            red.set("counter", value + 1)
            red.rpush("served", ticket)
        finally:
            store.cleanup("one-conversation", ticket)

asyncio.run(main())
"""


@pytest.fixture
def redis_port():
    with local_servers.redis() as port:
        yield port


def hammer(port: int, kind: str = "bot.rasa_plugins.lock_store.AtomicRedisLockStore") -> list:
    return [subprocess.Popen([sys.executable, "-c", HAMMER, str(port), str(ROUNDS), kind])
            for _ in range(2)]


def test_two_processes_on_one_conversation_get_distinct_tickets_in_order(redis_port):
    import redis

    hammers = hammer(redis_port)
    # Lock lifetime 30 s: a stalled queue would outlast this bound.
    assert [h.wait(timeout=25) for h in hammers] == [0, 0]

    red = redis.Redis(host="127.0.0.1", port=redis_port, db=2)
    served = [int(t) for t in red.lrange("served", 0, -1)]
    assert len(served) == 2 * ROUNDS
    assert len(set(served)) == len(served), "a ticket number was handed out twice"
    assert served == sorted(served), "tickets were not served in the order they were issued"
    assert int(red.get("counter")) == 2 * ROUNDS, "two holders were inside the lock at once"
    assert not redis.Redis(host="127.0.0.1", port=redis_port, db=1).keys("*:queue")


def test_an_unreachable_redis_is_refused_at_start():
    from rasa.core.lock_store import LockStore
    from rasa.shared.exceptions import ConnectionException
    from rasa.utils.endpoints import EndpointConfig

    config = EndpointConfig(url="127.0.0.1", type="bot.rasa_plugins.lock_store.AtomicRedisLockStore",
                            port=local_servers.free_port(), db=1)
    with pytest.raises(ConnectionException):
        LockStore.create(config)


@pytest.mark.slow
def test_a_lock_held_past_its_lifetime_never_sees_its_ticket_number_again(redis_port):
    import asyncio
    import time

    import redis
    from bot.rasa_plugins.lock_store import AtomicRedisLockStore

    store = AtomicRedisLockStore(host="127.0.0.1", port=redis_port, db=3)
    red = redis.Redis(host="127.0.0.1", port=redis_port, db=3)
    held = store.issue_ticket("long-holder", 0.05)
    asyncio.run(store._acquire_lock("long-holder", held, 1))
    # The holder is still busy when its ticket's lifetime, and the queue's, runs out.
    deadline = time.monotonic() + 10
    while red.exists(*store._keys("long-holder")[:2]):
        assert time.monotonic() < deadline, "the queue never expired"
        time.sleep(0.01)
    later = store.issue_ticket("long-holder", 30)
    assert later > held, "a ticket number was handed out again after the queue expired"
    store.cleanup("long-holder", held)  # the long holder finishes at last
    # ... and that must not have taken the newer ticket's place in the queue.
    asyncio.run(asyncio.wait_for(store._acquire_lock("long-holder", later, 1), 5))
    store.cleanup("long-holder", later)
