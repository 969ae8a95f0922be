"""Delivery at least once: an update is confirmed only after it was answered.

The order, for every update:

1. It arrives. By polling: ``getUpdates`` hands it to PTB, and
   :class:`ConfirmingBot` keeps it *in hand*: the offset it asks Telegram for
   never passes an update in hand, so if the process dies now, Telegram sends
   it again. By webhook (bot/channels/telegram/webhook.py): it is recorded as
   pending in the ledger (bot/channels/telegram/ledger.py) before Telegram is
   told 200, and answered at the next start if the process dies.
2. :class:`PerChatOrder` lets it through once the chat's earlier updates are
   done, and only then takes one of PTB's concurrency slots, so one chat can
   never fill them all. A flood from one chat is coalesced: beyond
   :data:`FLOOD_BACKLOG` waiting messages the oldest are skipped (recorded,
   never answered), the latest answered, with a kind word that the bot reads
   one message at a time. A message that signals danger, a command and a
   button press are never skipped.
3. The handlers answer it. Every request goes through PTB's rate limiter
   (:class:`FirstMessagesFirst`, which lets each update's first message go
   ahead of later messages to other chats), which waits out a 429, and through
   :class:`RetryingBot`, which retries 5xx answers, time-outs and network
   errors with backoff, for a bounded time. If the answer still cannot be
   sent, the fail-safe reply is tried; if even that fails, the update is
   handled again a little later, until :attr:`Settings.give_up_seconds`;
   then it is given up, logged and recorded (its id only), so the offset
   moves on. A chat that cannot be written to at all (the person blocked the
   bot) is given up on at once.
4. Only then is the update confirmed: recorded as answered in the ledger and
   released, so the next ``getUpdates`` offset passes it.

So a reply is never lost while it can be delivered at all. A crash in the few
milliseconds between a reply being sent and its update being recorded sends
that reply again after the restart: exactly-once is impossible across a
crash, and of the two failures a repeated reply is the safe one. The ledger
exists because chats are answered concurrently: while one slow update holds
the offset back, later ones are answered, and after a restart Telegram sends
them all again; the ledger skips those already answered. With PostgreSQL it
is shared, so a retry reaching a second instance is skipped too.

A 401 (the token was revoked) or a 403 on ``getUpdates`` cannot get better
by retrying: the bot reports it (``on_fatal``) so that the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

from telegram import Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, Application, BaseUpdateProcessor, ExtBot

from bot import safety
from bot.channels.telegram.ledger import Ledger

logger = logging.getLogger(__name__)

# While updates are being handled, getUpdates waits for one to finish (at most this
# long) instead of asking Telegram at once, which would only send them back.
PROGRESS_WAIT = 1.0
# How long one request is retried for, and the first pause between tries (doubling).
RETRY_FOR = 30.0
FIRST_PAUSE = 0.25
# An update whose answer and fail-safe could not be sent is handled again after
# this pause, doubling up to the maximum, until it is given up.
RETRY_PAUSE = 1.0
MAX_RETRY_PAUSE = 60.0
# A chat with more messages than this waiting is flooding: its oldest are skipped.
FLOOD_BACKLOG = 10

TOKEN_REFUSED = ("Telegram refused the bot token (revoked or wrong): get the current one "
                 "from @BotFather and set TELEGRAM_BOT_TOKEN")


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

    def __init__(self, *args: Any, ledger: Ledger, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ledger = ledger
        self._in_hand: set[int] = set()  # given to PTB, not yet handled
        self._answered: dict[int, asyncio.Future] = {}  # webhook updates acknowledged once answered
        self._delivered = -1  # the highest update id given to PTB or skipped
        self._progress: asyncio.Event | None = None
        self._pruned_below = 0

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def confirm(self, update: object) -> None:
        """Record ``update`` as handled: its answer, or the fail-safe, was sent, or it
        was given up or skipped."""
        if isinstance(update, Update) and update.update_id in self._in_hand:
            self._ledger.add(update.update_id)
            self._in_hand.discard(update.update_id)
            if self._progress:
                self._progress.set()
            answered = self._answered.pop(update.update_id, None)
            if answered and not answered.done():
                answered.set_result(None)

    def take(self, update: Update, content: str) -> bool | asyncio.Future | None:
        """A webhook update arriving: record it as pending before it is acknowledged.

        True: recorded, acknowledge it now. False: answered or taken already
        (here, or by another instance), so acknowledge and drop it. A future: the
        ledger could not record it, so acknowledge once the future is done (answered).
        """
        if update.update_id in self._in_hand:
            return False  # Telegram sent it again while it is being answered here
        held = self._ledger.hold(update.update_id, content)
        if held is False:
            return False
        self._in_hand.add(update.update_id)
        if held is None:
            future = self._answered[update.update_id] = asyncio.get_running_loop().create_future()
            return future
        return True

    def resume(self, update: Update) -> None:
        """A pending update from before a restart, about to be answered."""
        self._in_hand.add(update.update_id)

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


# --- each chat in order, a slot only when it is its turn ---------------------------------


@dataclass(eq=False)
class _Waiting:
    update: Update
    skipped: bool = False


@dataclass(eq=False)
class _Chat:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: list[_Waiting] = field(default_factory=list)  # skippable, not yet started
    users: int = 0
    skipped: bool = False  # messages were skipped: the next answer says so


class PerChatOrder(BaseUpdateProcessor):
    """Different chats are processed concurrently; one chat's updates in order.

    PTB's processor hook. PTB's own ``process_update`` takes a concurrency
    slot and then waits; here an update first waits for the chat's earlier
    updates and only then takes a slot, so a chat that floods the bot holds
    one slot, not all of them. It is also where an update is confirmed, once
    ``settle`` says it was answered; an update whose answer and fail-safe both
    could not be sent is handled again after a pause, still ahead of the
    chat's later updates, until ``give_up_seconds`` have passed.
    """

    def __init__(self, settle: Callable[..., bool], confirm: Callable[[object], None],
                 give_up_seconds: float = 120.0,
                 after_skipping: Callable[[Update], Awaitable[None]] | None = None,
                 max_concurrent_updates: int = 512) -> None:
        super().__init__(max_concurrent_updates)
        self._settle = settle  # (update, giving_up=False) -> True once answered
        self._confirm = confirm
        self._give_up_seconds = give_up_seconds
        self._after_skipping = after_skipping
        self.application: Application | None = None  # set once built, to handle updates again
        self._chats: dict[Any, _Chat] = {}

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_of = update.effective_chat if isinstance(update, Update) else None
        key = chat_of.id if chat_of else None
        chat = self._chats.setdefault(key, _Chat())
        chat.users += 1
        waiting = _Waiting(update) if key is not None and skippable(update) else None
        if waiting:
            chat.waiting.append(waiting)
            self._skip_flood(chat)
        try:
            async with chat.lock:
                if waiting:
                    chat.waiting.remove(waiting)
                    if waiting.skipped:  # already recorded, when it was skipped
                        coroutine.close()  # type: ignore[attr-defined]
                        return
                async with self._semaphore:
                    await self.do_process_update(update, coroutine)
                    if chat.skipped and self._after_skipping and isinstance(update, Update):
                        chat.skipped = False
                        await self._after_skipping(update)
        finally:
            chat.users -= 1
            if not chat.users:
                self._chats.pop(key, None)

    def _skip_flood(self, chat: _Chat) -> None:
        """Beyond FLOOD_BACKLOG waiting, skip the oldest: recorded at once, so the
        offset moves and other chats' updates are fetched, and never answered."""
        live = [w for w in chat.waiting if not w.skipped]
        if len(live) > FLOOD_BACKLOG and not chat.skipped:
            logger.warning("A chat sent more than %d messages at once; answering its latest",
                           FLOOD_BACKLOG)
        for waiting in live[:-FLOOD_BACKLOG] if len(live) > FLOOD_BACKLOG else []:
            waiting.skipped = chat.skipped = True
            self._settle(waiting.update, giving_up=True)
            self._confirm(waiting.update)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        started = time.monotonic()
        await coroutine
        pause = RETRY_PAUSE
        while not self._settle(update):
            if time.monotonic() - started + pause > self._give_up_seconds:
                logger.error("An update's replies could not be sent for %.0f s; it is given up",
                             time.monotonic() - started)
                self._settle(update, giving_up=True)
                break
            await asyncio.sleep(pause)
            if not (self.application and self.application.running):
                return  # stopping: unconfirmed, so Telegram sends it again
            pause = min(pause * 2, MAX_RETRY_PAUSE)
            await self.application.process_update(update)
        self._confirm(update)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def skippable(update: object) -> bool:
    """Whether a flood may skip ``update``: a plain new message whose words do not
    signal danger. Commands (/forget must act), button presses and danger never."""
    if not isinstance(update, Update) or update.message is None:
        return False
    text = update.message.text or update.message.caption or ""
    return bool(text.strip()) and not text.lstrip().startswith("/") and not safety.assess(text)


# --- each update's first message first ------------------------------------------------------

_FIRST = contextvars.ContextVar("signpost_first_message", default=False)


@contextlib.contextmanager
def first_message() -> Iterator[None]:
    """Mark the requests made inside as an update's first message (see FirstMessagesFirst)."""
    token = _FIRST.set(True)
    try:
        yield
    finally:
        _FIRST.reset(token)


class FirstMessagesFirst(AIORateLimiter):
    """PTB's rate limiter, letting each update's first message go ahead of the rest.

    In a surge every chat's first message is the one that carries 999 when it
    matters; under Telegram's overall rate (30 a second) it must not wait behind
    other chats' second and third messages. A later message waits while any
    first message is waiting for the limiter; a first message stops counting as
    waiting once the limiter lets it through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._firsts_waiting = 0
        self._no_firsts: asyncio.Event | None = None

    async def _run_request(self, chat: bool, group: Any, allow_paid_broadcast: bool,
                           callback: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
        if self._no_firsts is None:
            self._no_firsts = asyncio.Event()
            self._no_firsts.set()
        if not chat:
            return await super()._run_request(chat, group, allow_paid_broadcast, callback,
                                              args, kwargs)
        if not _FIRST.get():
            while self._firsts_waiting:
                await self._no_firsts.wait()
            return await super()._run_request(chat, group, allow_paid_broadcast, callback,
                                              args, kwargs)
        self._firsts_waiting += 1
        self._no_firsts.clear()
        through = False

        def let_through() -> None:
            nonlocal through
            if not through:
                through = True
                self._firsts_waiting -= 1
                if not self._firsts_waiting:
                    self._no_firsts.set()

        async def first(*a: Any, **k: Any) -> Any:
            let_through()
            return await callback(*a, **k)

        try:
            return await super()._run_request(chat, group, allow_paid_broadcast, first,
                                              args, kwargs)
        finally:
            let_through()
