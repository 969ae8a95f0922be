"""Delivery at least once: an update is confirmed only after it was answered.

The order, for every update:

1. ``getUpdates`` hands the update to PTB. :class:`ConfirmingBot` keeps it
   *in hand*: the offset it asks Telegram for never passes an update in
   hand, so if the process dies now, Telegram sends the update again.
2. The handlers answer it. Every request goes through PTB's rate limiter,
   which waits out a 429 for its ``retry_after``, and through
   :class:`RetryingBot`, which retries 5xx answers, time-outs and network
   errors with backoff, for a bounded time. If the answer still cannot be
   sent, the adapter tries the fail-safe reply; if even that fails, the
   update is handled again a little later (bot/channels/telegram/app.py,
   ``PerChatOrder``). A chat that cannot be written to at all (the person
   blocked the bot) is given up on, logged, and confirmed.
3. Only then is the update confirmed: recorded in :class:`HandledUpdates`,
   a small ledger on disk, and released, so the next ``getUpdates`` offset
   passes it.

So a reply is never lost. A crash in the few milliseconds between a reply
being sent and its update being recorded sends that reply again after the
restart: exactly-once is impossible across a crash, and of the two failures
a repeated reply is the safe one. The ledger exists because chats are
answered concurrently: while one slow update holds the offset back, later
ones are answered, and after a restart Telegram sends them all again; the
ledger skips those already answered. It is scoped to the bot's id (a new
token on the same files starts afresh instead of skipping updates whose ids
it has seen before) and forgets updates once Telegram has been told of
them. A ledger that cannot be used (the file
is locked, the disk is full) is logged and otherwise ignored: it can at worst
cause a repeat, never a stall.

A 401 (the token was revoked) or a 403 on ``getUpdates`` cannot get better
by retrying: the bot reports it (``on_fatal``) so that the process ends.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from telegram import Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import ExtBot

logger = logging.getLogger(__name__)

# Telegram keeps undelivered updates for 24 hours; remember handled ones a little longer.
LEDGER_DAYS = 2
# While updates are being handled, getUpdates waits for one to finish (at most this
# long) instead of asking Telegram at once, which would only send them back.
PROGRESS_WAIT = 1.0
# How long one request is retried for, and the first pause between tries (doubling).
RETRY_FOR = 30.0
FIRST_PAUSE = 0.25

TOKEN_REFUSED = ("Telegram refused the bot token (revoked or wrong): get the current one "
                 "from @BotFather and set TELEGRAM_BOT_TOKEN")


class HandledUpdates:
    """The ids of updates one bot has fully handled, kept in a small SQLite file."""

    def __init__(self, path: Path, bot_id: int) -> None:
        self._bot = bot_id
        # A short busy timeout: these calls run on the event loop, and a locked
        # file must not hold up every chat (a failed write is only logged).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=0.2)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives the process being killed
        self._db.execute("DROP TABLE IF EXISTS handled")  # the unscoped ledger of old versions
        self._db.execute("CREATE TABLE IF NOT EXISTS answered (bot_id INTEGER, update_id INTEGER,"
                         " at REAL, PRIMARY KEY (bot_id, update_id)) WITHOUT ROWID")
        self.forget_before(0)

    def add(self, update_id: int) -> None:
        self._quietly(lambda: self._db.execute("INSERT OR IGNORE INTO answered VALUES (?, ?, ?)",
                                               (self._bot, update_id, time.time())))

    def __contains__(self, update_id: int) -> bool:
        found = self._quietly(lambda: self._db.execute(
            "SELECT 1 FROM answered WHERE bot_id = ? AND update_id = ?",
            (self._bot, update_id)).fetchone())
        return bool(found)  # unreadable: treat as new, which can only repeat a reply

    def forget_before(self, update_id: int) -> None:
        """Drop what Telegram will not send again: ids below the confirmed offset, and
        anything older than Telegram keeps updates (any bot's)."""
        self._quietly(lambda: self._db.execute(
            "DELETE FROM answered WHERE (bot_id = ? AND update_id < ?) OR at < ?",
            (self._bot, update_id, time.time() - LEDGER_DAYS * 86400)))

    @staticmethod
    def _quietly(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except sqlite3.Error as exc:
            logger.error("The update ledger could not be used (%s); carrying on without it",
                         type(exc).__name__)
            return None


class RetryingBot(ExtBot):
    """PTB's ``ExtBot``, retrying requests that failed for a reason that may pass.

    Hand-written because PTB retries only 429s (in ``AIORateLimiter``, which
    this relies on for them) and the polling loop; a ``sendMessage`` that
    meets a 502, a time-out or a dropped connection is otherwise lost. It
    overrides ``_do_post``, where PTB's own ExtBot hands requests to the rate
    limiter, so each retry is rate limited too.
    """

    def __init__(self, *args: Any, retry_for: float = RETRY_FOR, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retry_for = retry_for
        self._on_fatal: Callable[[str], None] = lambda reason: None

    def on_fatal(self, call: Callable[[str], None]) -> None:
        """Have ``call(reason)`` run when Telegram refuses the bot for good."""
        self._on_fatal = call

    @property
    def retry_for(self) -> float:
        return self._retry_for

    async def _do_post(self, endpoint: str, data: Any, **kwargs: Any) -> Any:
        if endpoint == "getUpdates":  # PTB's polling loop retries these itself
            return await self._fatal_unless(super()._do_post(endpoint, data, **kwargs), endpoint)
        deadline = time.monotonic() + self._retry_for
        pause = FIRST_PAUSE
        while True:
            try:
                return await self._fatal_unless(super()._do_post(endpoint, data, **kwargs),
                                                endpoint)
            except RetryAfter as exc:  # still limited after the rate limiter's own retries
                wait = _seconds(exc.retry_after)
                if time.monotonic() + wait > deadline:
                    raise
            except BadRequest:  # a NetworkError in PTB, but the same request fails the same way
                raise
            except NetworkError:  # 5xx, time-outs, connection errors (InvalidToken is not one)
                wait, pause = pause, pause * 2
                if time.monotonic() + wait > deadline:
                    raise
            logger.warning("A request to Telegram failed; trying again in %.1f s", wait)
            await asyncio.sleep(wait)


    async def _fatal_unless(self, request: Any, endpoint: str) -> Any:
        try:
            return await request
        except InvalidToken:
            self._on_fatal(TOKEN_REFUSED)
            raise
        except Forbidden:
            if endpoint == "getUpdates":
                self._on_fatal(TOKEN_REFUSED)
            raise  # elsewhere a 403 is one chat that blocked the bot


def _seconds(period: Any) -> float:
    return period.total_seconds() if hasattr(period, "total_seconds") else float(period)


class ConfirmingBot(RetryingBot):
    """Confirms to Telegram only updates that :meth:`confirm` was called for."""

    def __init__(self, *args: Any, ledger: HandledUpdates, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ledger = ledger
        self._in_hand: set[int] = set()  # given to PTB, not yet handled
        self._delivered = -1  # the highest update id given to PTB or skipped
        self._progress: asyncio.Event | None = None
        self._pruned_below = 0

    def confirm(self, update: object) -> None:
        """Record ``update`` as handled: its answer, or the fail-safe, was sent."""
        if isinstance(update, Update) and update.update_id in self._in_hand:
            self._ledger.add(update.update_id)
            self._in_hand.discard(update.update_id)
            if self._progress:
                self._progress.set()

    async def get_updates(self, offset: int | None = None, limit: int | None = None,
                          timeout: int | None = None, allowed_updates: Any = None,
                          **kwargs: Any) -> tuple[Update, ...]:
        # PTB's own offset says what it has queued; ours says what has been handled.
        if self._in_hand:
            self._progress = self._progress or asyncio.Event()
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), PROGRESS_WAIT)
            except asyncio.TimeoutError:
                pass
            timeout = 0
        confirm = min(self._in_hand) if self._in_hand else self._delivered + 1
        try:
            updates = await super().get_updates(offset=confirm or offset, limit=limit,
                                                timeout=timeout, allowed_updates=allowed_updates,
                                                **kwargs)
        except (InvalidToken, Forbidden):
            return ()  # on_fatal has been told; raising would only log a traceback
        if confirm and confirm != self._pruned_below:  # Telegram now forgets all before it
            self._ledger.forget_before(confirm)
            self._pruned_below = confirm
        fresh = []
        for update in updates:
            if update.update_id <= self._delivered:
                continue  # already with PTB, still being handled
            self._delivered = update.update_id
            if update.update_id in self._ledger:
                continue  # handled before a restart; confirmed by the next call
            self._in_hand.add(update.update_id)
            fresh.append(update)
        return tuple(fresh)
