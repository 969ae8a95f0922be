"""A Redis lock store whose tickets are issued atomically, for several instances.

Rasa's ``RedisLockStore`` keeps each conversation's ticket queue as one JSON
value and changes it by reading it, changing it in the process and writing it
back. Two instances taking a ticket for one conversation at the same moment
both read the same queue and hand out the same number (85 times in 400,
measured); the loser's ticket is overwritten, so it waits for a ticket that
nobody will ever finish, and the conversation stalls until the lock expires
(60 s), with fail-safe replies the whole time.

Here each step is one Lua script, which Redis runs atomically:

* a ticket number comes from ``INCR`` on one counter for the whole store, which
  never expires, so no two are ever the same, however long a holder keeps its
  lock (a counter per conversation that expired with the queue started again at
  1 after a long holder, and that holder's cleanup then removed a newer ticket of
  the same number, letting two messages in at once);
* the queue is a sorted set of ticket numbers, served lowest first, so
  messages are handled in the order they took their tickets;
* each ticket's deadline is kept next to it and read against Redis's own
  clock (``TIME``), so instances with different clocks agree on expiry, and the
  keys expire in Redis once the newest ticket's lifetime has passed.

Configured in endpoints.yml as ``type: bot.rasa_plugins.lock_store.AtomicRedisLockStore``;
it takes the same settings as Rasa's ``type: redis``. It answers ``PING`` when
created, so an unreachable Redis stops the bot at start instead of at the
first message.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Optional, Text

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

# How often a waiting message looks again whether its turn has come (Rasa: 1 s).
POLL_SECONDS = 0.02

# KEYS: queue (sorted set of ticket numbers), deadlines (hash number -> ms), counter
# (one for the store, never expiring).
_PURGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not head then return now end
  local deadline = tonumber(redis.call('HGET', KEYS[2], head) or 0)
  if deadline > now then return now end
  redis.call('ZREM', KEYS[1], head)
  redis.call('HDEL', KEYS[2], head)
end
"""

# ARGV: lifetime in ms. Returns the new ticket's number.
_ISSUE = "local now = (function() " + _PURGE + " end)()\n" + """
local number = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], number, number)
redis.call('HSET', KEYS[2], number, now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return number
"""

# ARGV: ticket number. Returns 1 if it is this ticket's turn, 0 if it must wait,
# -1 if the ticket has expired (it is no longer in the queue).
_TURN = "(function() " + _PURGE + " end)()\n" + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if head == ARGV[1] then return 1 end
return 0
"""

# ARGV: ticket number. Returns how many tickets are still waiting.
_FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store with each ticket operation done atomically in Redis."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa creates a lock store named by module path
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        kwargs.pop("type", None)
        super().__init__(**kwargs)
        import redis

        try:
            self.red.ping()
        except redis.exceptions.RedisError as exc:  # unreachable, timed out, refused: one line
            raise ConnectionError(f"Redis could not be reached ({type(exc).__name__})") from None
        self._issue = self.red.register_script(_ISSUE)
        self._turn = self.red.register_script(_TURN)
        self._finish = self.red.register_script(_FINISH)

    def _keys(self, conversation_id: Text) -> list[str]:
        base = f"{self.key_prefix}atomic:{conversation_id}"
        return [f"{base}:queue", f"{base}:deadlines", f"{self.key_prefix}atomic:tickets"]

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return int(self._issue(keys=self._keys(conversation_id),
                                   args=[max(1, int(lock_lifetime * 1000))]))
        except Exception as exc:  # Rasa's callers expect a LockError
            raise LockError(f"Could not issue a ticket ({type(exc).__name__})") from None

    async def _acquire_lock(self, conversation_id: Text, ticket: int,
                            wait_time_in_seconds: float) -> TicketLock:
        keys = self._keys(conversation_id)
        while True:
            turn = int(self._turn(keys=keys, args=[ticket]))
            if turn == 1:
                return TicketLock(conversation_id)  # Rasa's callers do not look inside
            if turn == -1:
                raise LockError("A ticket expired before its turn came")
            await asyncio.sleep(min(wait_time_in_seconds, POLL_SECONDS))

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        self._finish(keys=self._keys(conversation_id), args=[ticket_number])

    def update_lock(self, conversation_id: Text) -> None:
        """Expired tickets are removed by every script; nothing to do here."""

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """A snapshot of the queue (for Rasa's callers that inspect it)."""
        queue, deadlines, _ = self._keys(conversation_id)
        numbers = [int(n) for n in self.red.zrange(queue, 0, -1)]
        if not numbers:
            return None
        expiry = self.red.hgetall(deadlines)
        tickets = [Ticket(n, int(expiry.get(str(n).encode(), 0)) / 1000) for n in numbers]
        return TicketLock(conversation_id, deque(tickets))

    def is_someone_waiting(self, conversation_id: Text) -> bool:
        return bool(self.red.zcard(self._keys(conversation_id)[0]))

    def delete_lock(self, conversation_id: Text) -> None:
        self.red.delete(*self._keys(conversation_id)[:2])  # never the counter: numbers go on

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("tickets are only changed atomically, by the scripts")
