"""Polling that loses no update and answers none twice, even after a crash.

Telegram keeps an update until the bot asks for a later one (``getUpdates``
with a higher ``offset``). PTB's polling asks as soon as it has queued an
update, before any handler has run, so a bot killed mid-way loses whatever it
had queued; and an update handled just before a crash, but not yet
confirmed, would be sent again after the restart and answered twice.

:class:`ConfirmingBot` is PTB's ``ExtBot`` with one change, to
``get_updates``: it confirms an update only once it has been handled, and it
skips updates that a :class:`HandledUpdates` ledger on disk says were already
answered (Telegram re-sends those after a restart). PTB's own ``run_polling``,
handlers and update processor are used unchanged.

An update counts as answered at the last moment before its first reply
goes out: :class:`MarkingRateLimiter`, PTB's rate limiter, marks it when it
lets the request through (updates that send nothing are marked when their
handlers finish). The adapter answers one update at a time, from the
engine's work to the reply being sent, so nothing else runs between the mark
and the request. Exactly-once delivery across a crash is impossible in
general; this order means a reply that has gone out is never sent again, and
only a crash in the instant between the mark and the request could lose one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import AIORateLimiter, ExtBot

# The update whose replies the current task is sending (set by the adapter).
answering: ContextVar[Update | None] = ContextVar("answering", default=None)

# Telegram keeps undelivered updates for 24 hours; remember handled ones a little longer.
LEDGER_DAYS = 2
# While updates are being handled, getUpdates waits for one to finish (at most this
# long) instead of asking Telegram at once, which would only send them back.
PROGRESS_WAIT = 1.0


class HandledUpdates:
    """The ids of updates that have been fully handled, kept in a small SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives the process being killed
        self._db.execute("CREATE TABLE IF NOT EXISTS handled (update_id INTEGER PRIMARY KEY, at REAL)")
        self._db.execute("DELETE FROM handled WHERE at < ?", (time.time() - LEDGER_DAYS * 86400,))

    def add(self, update_id: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO handled VALUES (?, ?)", (update_id, time.time()))

    def __contains__(self, update_id: int) -> bool:
        return self._db.execute("SELECT 1 FROM handled WHERE update_id = ?",
                                (update_id,)).fetchone() is not None


class ConfirmingBot(ExtBot):
    def __init__(self, *args: Any, ledger: HandledUpdates, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ledger = ledger
        self._in_hand: set[int] = set()  # given to PTB, not yet handled
        self._delivered = -1  # the highest update id given to PTB or skipped
        self._progress: asyncio.Event | None = None

    def handled(self, update: object) -> None:
        """Record ``update`` as answered (called before its first reply, and when it is done)."""
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
        updates = await super().get_updates(offset=confirm or offset, limit=limit, timeout=timeout,
                                            allowed_updates=allowed_updates, **kwargs)
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


class MarkingRateLimiter(AIORateLimiter):
    """PTB's rate limiter, marking an update answered as its first reply is let through."""

    def __init__(self, mark: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._mark = mark

    async def process_request(self, callback: Any, args: Any, kwargs: dict[str, Any],
                              endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        update = answering.get()
        if update is not None and endpoint == "sendMessage":
            real_callback = callback

            async def callback(*call_args: Any, **call_kwargs: Any) -> Any:
                self._mark(update)
                return await real_callback(*call_args, **call_kwargs)

        return await super().process_request(callback, args, kwargs, endpoint, data,
                                             rate_limit_args)
