"""The Telegram adapter: how the public reaches the bot.

Built the way python-telegram-bot's own examples are: ``Application.builder()``,
small async handlers, PTB's rate limiter, and PTB's ``run_polling`` or
``run_webhook``. Every text goes to the dialogue engine under a pseudonymous
conversation id; the adapter adds only what Telegram needs:

* commands (/start, /help, /emergency, /services, /privacy, /forget, /clear),
  registered with Telegram so they show in the menu;
* Rasa buttons as inline keyboards, and button presses sent back as payloads;
* every text a person sends assessed for danger, whatever path it takes:
  words after a command, an unknown command (read as text), a caption, an
  edit, a group message; the crisis answer goes first, then the usual reply;
* a sensible answer to every other kind of update (stickers, photos, edits,
  group chats), never a crash;
* replies split to Telegram's limit and sent as plain text, so nothing a user
  types can break the formatting;
* chats handled concurrently, each chat's messages in order;
* polling that confirms an update only once it has been answered, and sends
  that are retried (bot/channels/telegram/delivery.py), so no reply is lost;
* a fixed fail-safe reply with 999, 101 and Childline if the engine fails or
  is too slow, or the answer cannot be sent, logged without the message text.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import re
import hashlib
import hmac
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable
from urllib.parse import urlparse

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import BulkRequestLimit
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot import content, project, safety
from bot.channels.telegram.fixed_replies import FixedReplies
from bot.channels.telegram.pseudonyms import BadKey, Pseudonyms, load_key
from bot.channels.telegram.splitting import split_message
from bot.channels.telegram.delivery import TOKEN_REFUSED, ConfirmingBot, HandledUpdates

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
MIN_SECRET = 32
_SECRET = re.compile(rf"^[A-Za-z0-9_-]{{{MIN_SECRET},256}}$")
# An update whose answer and fail-safe could not be sent is handled again after
# this pause, doubling up to the maximum.
RETRY_PAUSE = 1.0
MAX_RETRY_PAUSE = 60.0
# Telegram lets a bot delete messages in a private chat for 48 hours; /clear
# asks for the most recent ones by id, in the batches the API accepts.
CLEAR_RECENT_MESSAGES = 1000
DELETE_BATCH = int(BulkRequestLimit.MAX_LIMIT)

COMMANDS = [
    ("start", "What this bot is, and what it is not"),
    ("help", "What I can help with"),
    ("emergency", "Numbers for when someone is in danger now"),
    ("services", "Services that can help"),
    ("privacy", "What is kept, for how long, and how to erase it"),
    ("forget", "Erase this conversation from the bot's memory"),
    ("clear", "Delete recent messages from this chat"),
    ("language", "999 and an interpreter, in your language"),
]
_COMMAND_NAMES = frozenset(name for name, _ in COMMANDS)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which, in one line."""


class Fatal(RuntimeError):
    """The bot cannot go on (Telegram refuses its token); the message says why, in one line."""


@dataclass(frozen=True)
class Settings:
    """The adapter's settings, from the environment (see docs/deploying.md, "Settings")."""

    token: str
    base_url: str = DEFAULT_BASE_URL
    webhook_url: str | None = None
    listen: str = "127.0.0.1"  # behind a TLS reverse proxy on the same host
    port: int = 8443
    webhook_secret: str = ""
    reply_timeout: float = 10.0
    send_retry_seconds: float = 30.0
    retention_days: float = 7.0
    max_messages_per_second: float = 30.0
    log_message_text: bool = False
    state_dir: Path = project.ROOT / "var"

    @property
    def bot_id(self) -> int:
        """The bot's own id: a token's digits before the colon."""
        return int(self.token.split(":", 1)[0])

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise SettingsError("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather "
                                "and set it, e.g. export TELEGRAM_BOT_TOKEN=123456:ABC...")
        if not _TOKEN.match(token):
            raise SettingsError("TELEGRAM_BOT_TOKEN does not look like a bot token "
                                "(digits, a colon, then 30+ letters, digits, _ or -)")
        secret = env.get("TELEGRAM_WEBHOOK_SECRET") or webhook_secret_for(token)
        if not _SECRET.match(secret):
            raise SettingsError(f"TELEGRAM_WEBHOOK_SECRET must be {MIN_SECRET} to 256 letters, "
                                "digits, _ or -; or leave it unset to derive one from the token")
        webhook_url = env.get("WEBHOOK_URL") or None
        if webhook_url and urlparse(webhook_url).scheme not in ("http", "https"):
            raise SettingsError("WEBHOOK_URL must be a full address, e.g. https://bot.example.org/telegram")
        return cls(
            token=token,
            base_url=env.get("TELEGRAM_API_BASE_URL") or DEFAULT_BASE_URL,
            webhook_url=webhook_url,
            listen=env.get("WEBHOOK_LISTEN") or cls.listen,
            port=_number(env, "WEBHOOK_PORT", cls.port, int),
            webhook_secret=secret,
            reply_timeout=_number(env, "SIGNPOST_REPLY_TIMEOUT", cls.reply_timeout, float),
            send_retry_seconds=_number(env, "SIGNPOST_SEND_RETRY_SECONDS", cls.send_retry_seconds,
                                       float),
            retention_days=_number(env, "SIGNPOST_RETENTION_DAYS", cls.retention_days, float),
            max_messages_per_second=_number(env, "TELEGRAM_MAX_MESSAGES_PER_SECOND",
                                            cls.max_messages_per_second, float),
            log_message_text=env.get("SIGNPOST_LOG_MESSAGE_TEXT", "").lower() in ("1", "true", "yes"),
            state_dir=Path(env.get("SIGNPOST_STATE_DIR") or cls.state_dir),
        )


def webhook_secret_for(token: str) -> str:
    """The webhook secret when none is set: derived from the token, so every instance
    behind one URL agrees on it (a random one per start would lock out all but the
    last instance started), and registering the webhook again changes nothing."""
    return hmac.new(token.encode(), b"signpost telegram webhook secret", hashlib.sha256).hexdigest()


def _number(env: dict[str, str], name: str, default: Any, kind: type) -> Any:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be more than 0")
    return value


class PerChatOrder(BaseUpdateProcessor):
    """Different chats are processed concurrently; one chat's updates in order.

    PTB's processor hook: each update waits only for earlier updates from the
    same chat, so one slow conversation never holds up the others. It is also
    where an update is confirmed, once ``settle`` says it was answered; an
    update whose answer and fail-safe both could not be sent is handled again
    after a pause, still ahead of the chat's later updates.
    """

    def __init__(self, settle: Any, confirm: Any, max_concurrent_updates: int = 512) -> None:
        super().__init__(max_concurrent_updates)
        self._settle = settle  # update -> True once answered (or unanswerable for good)
        self._confirm = confirm
        self.application: Application | None = None  # set once built, to handle updates again
        self._locks: dict[Any, asyncio.Lock] = {}
        self._waiting: defaultdict[Any, int] = defaultdict(int)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] += 1
        try:
            async with lock:
                await coroutine
                pause = RETRY_PAUSE
                while not self._settle(update):
                    await asyncio.sleep(pause)
                    if not (self.application and self.application.running):
                        return  # stopping: unconfirmed, so Telegram sends it again
                    pause = min(pause * 2, MAX_RETRY_PAUSE)
                    await self.application.process_update(update)
                self._confirm(update)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                self._locks.pop(key, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class _GaveUp(Exception):
    """Ends a handler whose reply could not be sent; the fail-safe was tried."""


@dataclass
class _Progress:
    """How far the answer to one update got, kept until the update is confirmed,
    so that handling it again neither asks the engine again nor repeats a message."""

    replies: list[tuple[str, Any]] | None = None  # the engine's answer: (text, keyboard)
    crisis: str | None = None  # the crisis answer words outside the dialogue need ("" none)
    sent: int = 0  # messages delivered, over all attempts
    reached: int = 0  # messages reached in this attempt
    undelivered: bool = False  # neither the answer nor the fail-safe could be sent


class SignpostBot:
    """The handlers, with what they share: the engine, the replies, the pseudonyms."""

    def __init__(self, engine: Any, settings: Settings, replies: FixedReplies,
                 pseudonyms: Pseudonyms) -> None:
        self.engine = engine
        self.settings = settings
        self.replies = replies
        self.pseudonyms = pseudonyms
        self._told_private_only: set[str] = set()
        self._progress: dict[int, _Progress] = {}  # by update id, until confirmed

    def use_engine(self, engine: Any) -> None:
        self.engine = engine

    def register(self, app: Application) -> None:
        private = filters.ChatType.PRIVATE
        # A filter given to CommandHandler replaces its default update types: without
        # MESSAGE, editing an old message to "/forget" would erase the conversation.
        command = private & filters.UpdateType.MESSAGE
        # Groups and channels first: the bot is for private chats only.
        app.add_handler(MessageHandler(~private, self.not_private))
        for name, handler in (("start", self.start), ("help", self.help),
                              ("emergency", self.emergency), ("services", self.services),
                              ("privacy", self.privacy), ("forget", self.forget),
                              ("clear", self.clear), ("language", self.language)):
            app.add_handler(CommandHandler(name, self._words_first(handler), filters=command))
        app.add_handler(CallbackQueryHandler(self.button))
        app.add_handler(MessageHandler(filters.UpdateType.EDITED, self.edited))
        # Anything else typed, an unknown command included, is read as text by the engine.
        app.add_handler(MessageHandler(filters.TEXT, self.text))
        app.add_handler(MessageHandler(filters.ALL, self.not_text))
        app.add_error_handler(self.on_error)

    def _words_first(self, handler: Any) -> Any:
        """``handler``, after the crisis answer that words typed after the command need:
        "/help he is hurting me right now" gets the emergency answer, then the help."""
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            unless = self.replies.emergency if handler == self.emergency else None
            await self.crisis_first(update, typed_words(update.effective_message), unless=unless)
            await handler(update, context)
        return handle

    # --- commands --------------------------------------------------------------

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.converse(update, "/greet")

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.converse(update, "/ask_help")

    async def emergency(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.send(update, self.replies.emergency)

    async def services(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.send(update, self.replies.services)

    async def privacy(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.send(update, self.replies.privacy)

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.converse(update, "/language")

    async def forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.engine.forget(self.conversation(update))
        except Exception as exc:
            logger.error("Could not erase a conversation: %s", type(exc).__name__)
            await self.send(update, self.replies.forget_failed)
            return
        logger.info("A conversation was erased at the user's request")
        await self.send(update, self.replies.forgotten)

    async def clear(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat_id, newest = update.effective_chat.id, update.effective_message.message_id
        oldest = max(1, newest - CLEAR_RECENT_MESSAGES + 1)
        for first in range(newest, oldest - 1, -DELETE_BATCH):
            ids = list(range(max(oldest, first - DELETE_BATCH + 1), first + 1))
            try:
                await context.bot.delete_messages(chat_id, ids)
            except TelegramError as exc:  # too old, already gone: Telegram's limits
                logger.info("Telegram declined to delete some messages: %s", type(exc).__name__)
        await self.send(update, self.replies.cleared)

    # --- messages --------------------------------------------------------------

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.converse(update, update.effective_message.text)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        try:  # stops the button's spinner; a press answered before (a retry) is refused
            await query.answer()
            # the question has been answered: take its buttons away
            await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError:
            pass
        await self.converse(update, query.data or "")

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:  # e.g. someone blocked the bot: nothing to answer
            return
        if message.caption:  # a photo with words: read the words
            await self.converse(update, message.caption)
            return
        await self.send(update, self.replies.not_text)

    async def edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.crisis_first(update, typed_words(update.effective_message))
        await self.send(update, self.replies.edited)

    async def not_private(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Danger is answered wherever, and however often, it is written.
        await self.crisis_first(update, typed_words(update.effective_message))
        chat = self.conversation(update)
        if chat in self._told_private_only:
            return
        self._told_private_only.add(chat)
        await self.send(update, self.replies.private_only)  # a channel may refuse: given up

    # --- the engine, with the fail-safe --------------------------------------------

    def conversation(self, update: Update) -> str:
        return self.pseudonyms.of(update.effective_chat.id)

    async def converse(self, update: Update, text: str) -> None:
        progress = self._progress_of(update)
        if progress.replies is None:  # handled again after a failed send: same answer
            progress.replies = await self._ask_engine(update, text)
        for text, keyboard in progress.replies:
            await self.send(update, text, keyboard)

    async def crisis_first(self, update: Update, text: str, unless: str | None = None) -> None:
        """Send the crisis answer ``text`` needs, if any (and it is not ``unless``, the reply
        about to follow), ahead of whatever else answers the update."""
        if not text.strip():
            return
        progress = self._progress_of(update)
        if progress.crisis is None:  # handled again after a failed send: same answer
            progress.crisis = await self._assess(text)
        if progress.crisis and progress.crisis != unless:
            await self.send(update, progress.crisis)

    async def _assess(self, text: str) -> str:
        """The engine's crisis answer to ``text`` alone ("" for none); should the engine
        fail, the crisis patterns still decide, with the emergency answer."""
        try:
            reply = await asyncio.wait_for(self.engine.crisis_reply(text),
                                           self.settings.reply_timeout)
            return reply.text if reply else ""
        except Exception as exc:  # a time-out included
            logger.error("The engine could not assess a message (%s); the crisis patterns did",
                         type(exc).__name__)
            return self.replies.emergency if safety.assess(text) else ""

    async def _ask_engine(self, update: Update, text: str) -> list[tuple[str, Any]]:
        """The engine's replies as (text, keyboard), or the fail-safe reply."""
        conversation = self.conversation(update)
        if self.settings.log_message_text:
            logger.info("Message in %s: %r", conversation, text)
        try:
            replies = await asyncio.wait_for(self.engine.respond(conversation, text),
                                             self.settings.reply_timeout)
        except asyncio.TimeoutError:
            logger.error("The engine took longer than %ss; sent the fail-safe reply",
                         self.settings.reply_timeout)
            replies = None
        except Exception as exc:
            logger.error("The engine failed (%s); sent the fail-safe reply", type(exc).__name__)
            replies = None
        if not replies:
            return [(self.replies.failsafe, None)]
        return [(reply.text, _keyboard(reply.buttons)) for reply in replies]

    # --- sending, with the fail-safe ---------------------------------------------------

    async def send(self, update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """Send ``text`` as plain text, split to Telegram's limit; buttons go on the last piece.

        A message that cannot be sent (after the bot's retries) is replaced by
        the fail-safe reply and the handler ends; if the fail-safe cannot be
        sent either, the update is left unanswered so that it is handled again.
        """
        progress = self._progress_of(update)
        pieces = split_message(text)
        for number, piece in enumerate(pieces, start=1):
            progress.reached += 1
            if progress.reached <= progress.sent:
                continue  # delivered in an earlier attempt
            try:
                await self._send_one(update, piece, keyboard if number == len(pieces) else None)
            except Forbidden:  # the person blocked the bot: nothing can reach them
                logger.warning("A chat cannot be written to (Forbidden); its update is given up")
                raise _GaveUp from None
            except (TelegramError, asyncio.TimeoutError) as exc:
                await self._send_failsafe(update, progress, exc)
            progress.sent += 1

    async def _send_one(self, update: Update, text: str,
                        keyboard: InlineKeyboardMarkup | None = None) -> None:
        bot = update.get_bot()
        # The bot retries for retry_for; the margin covers the last request's own time-out.
        await asyncio.wait_for(bot.send_message(update.effective_chat.id, text, reply_markup=keyboard),
                               getattr(bot, "retry_for", 30.0) + 15)

    async def _send_failsafe(self, update: Update, progress: _Progress, error: Exception) -> None:
        logger.error("A reply could not be sent (%s); sending the fail-safe reply",
                     type(error).__name__)
        try:
            for piece in split_message(self.replies.failsafe):
                await self._send_one(update, piece)
        except (Forbidden, BadRequest) as exc:  # blocked, or the chat is gone: for good
            logger.warning("A chat cannot be written to (%s); its update is given up",
                           type(exc).__name__)
        except (TelegramError, asyncio.TimeoutError) as exc:
            logger.error("The fail-safe reply could not be sent either (%s); "
                         "the update will be handled again", type(exc).__name__)
            progress.undelivered = True
        raise _GaveUp

    def _progress_of(self, update: Update) -> _Progress:
        return self._progress.setdefault(update.update_id, _Progress())

    def settle(self, update: object) -> bool:
        """Whether ``update`` is done with (PerChatOrder confirms it); if not, it is
        handled again, resuming where its answer stopped."""
        if not isinstance(update, Update):
            return True
        progress = self._progress.get(update.update_id)
        if progress is not None and progress.undelivered:
            progress.undelivered, progress.reached = False, 0
            return False
        self._progress.pop(update.update_id, None)
        return True

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, _GaveUp):
            return  # already logged, and the fail-safe tried
        # Never log the update itself: it holds the chat id and the message text.
        logger.error("Error while handling an update: %s", type(error).__name__,
                     exc_info=(type(error), error, error.__traceback__) if error else None)
        if isinstance(update, Update) and update.effective_chat and \
                update.effective_chat.type == "private":
            try:  # a fault in a handler must not leave the person with nothing
                await self._send_failsafe(update, self._progress_of(update), error)
            except _GaveUp:
                pass


def typed_words(message: Any) -> str:
    """What a person wrote in ``message``, as the crisis assessment reads it: the name of
    one of our commands is not part of it ("/help" asks for the menu, not for help now);
    any other leading "/word" is ("/kill myself tonight")."""
    text = message.text or message.caption or ""
    head, *rest = text.split(None, 1) or [""]
    if head.startswith("/") and head[1:].split("@", 1)[0].lower() in _COMMAND_NAMES:
        return rest[0] if rest else ""
    return text


def _keyboard(buttons: Any) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.title, callback_data=b.payload)]
                                 for b in buttons])


def build_application(settings: Settings, engine_loader: Any, replies: FixedReplies,
                      pseudonyms: Pseudonyms, models_folder: Path | None = None) -> Application:
    """The PTB application. ``engine_loader`` is awaited once, inside PTB's event loop.

    With ``models_folder``, a newer model appearing there is swapped in live.
    """
    signpost = SignpostBot(None, settings, replies, pseudonyms)

    async def post_init(app: Application) -> None:
        signpost.use_engine(await engine_loader())
        await app.bot.set_my_commands([BotCommand(name, about) for name, about in COMMANDS])
        tasks = [asyncio.create_task(_erase_old_conversations(signpost, settings))]
        if models_folder:
            tasks.append(asyncio.create_task(_watch_for_new_models(signpost, models_folder)))
        app.bot_data["tasks"] = tasks
        logger.info("Signpost is ready on Telegram (%s)",
                    "webhook" if settings.webhook_url else "polling")

    async def post_stop(app: Application) -> None:
        for task in app.bot_data.get("tasks", []):
            task.cancel()

    try:
        ledger = HandledUpdates(settings.state_dir / "telegram-updates.db", settings.bot_id)
    except sqlite3.Error as exc:
        raise SettingsError(f"The update ledger in {settings.state_dir} cannot be used "
                            f"({type(exc).__name__}): free it or move it aside.") from None
    bot = ConfirmingBot(
        settings.token,
        base_url=settings.base_url,
        defaults=Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)),
        # PTB's rate limiter keeps within Telegram's limits and waits out 429s.
        rate_limiter=AIORateLimiter(overall_max_rate=settings.max_messages_per_second,
                                    max_retries=3),
        request=HTTPXRequest(connection_pool_size=256),
        get_updates_request=HTTPXRequest(),
        ledger=ledger,
        retry_for=settings.send_retry_seconds,
    )
    order = PerChatOrder(settle=signpost.settle, confirm=bot.confirm)
    app = (
        Application.builder()
        .bot(bot)
        .concurrent_updates(order)
        .post_init(post_init)
        .post_stop(post_stop)
        .build()
    )
    order.application = app

    def stop_for_good(reason: str) -> None:
        if "fatal" not in app.bot_data:
            app.bot_data["fatal"] = reason
            app.stop_running()

    bot.on_fatal(stop_for_good)
    signpost.register(app)
    app.bot_data["signpost"] = signpost
    return app


async def _erase_old_conversations(signpost: SignpostBot, settings: Settings) -> None:
    """Erase conversations idle for longer than the retention period, now and every hour."""
    while True:
        try:
            erased = await signpost.engine.forget_inactive(settings.retention_days * 86400)
            if erased:
                logger.info("Erased %d conversation(s) idle for over %g days", erased,
                            settings.retention_days)
        except Exception as exc:
            logger.error("Could not erase old conversations: %s", type(exc).__name__)
        await asyncio.sleep(3600)


async def _watch_for_new_models(signpost: SignpostBot, folder: Path, every: float = 2.0) -> None:
    """Serve the newest model in ``folder`` once it appears (``make train`` writes one there)."""
    failed: set[Path] = set()
    served_since = signpost.engine.model.stat().st_mtime
    while True:
        await asyncio.sleep(every)
        try:
            candidates = [(m.stat().st_mtime, m) for m in folder.glob("*.tar.gz") if m not in failed]
        except OSError:  # a model removed while we looked: try again next time
            continue
        newest_time, newest = max(candidates, default=(0.0, None))
        if newest is None or newest_time <= served_since:
            continue
        try:
            # /services, /emergency and the fail-safe give the numbers the new model gives.
            await signpost.engine.reload(newest)
            replies = FixedReplies.build(signpost.engine.directory, signpost.settings.retention_days)
            signpost.replies, served_since = replies, newest_time
            logger.info("Now serving the new model %s", newest.name)
        except Exception as exc:
            failed.add(newest)
            logger.error("The new model %s could not be loaded (%s); still serving %s",
                         newest.name, type(exc).__name__, signpost.engine.model.name)


def quiet_http_logs() -> None:
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    for name in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # PTB logs a traceback for every error page that is not JSON (a 502 from Telegram's
    # front end); the bot's retry logs one line for it instead.
    logging.getLogger("telegram.request").setLevel(logging.CRITICAL)
    # PTB's retry loop logs a traceback when Telegram refuses the token; the bot
    # ends with one line that says what to do instead.
    logging.getLogger("telegram.ext").addFilter(
        lambda record: not (record.exc_info and isinstance(record.exc_info[1], InvalidToken)))


def run(settings: Settings, model: Path, endpoints: Path = project.ENDPOINTS) -> None:
    """Serve Telegram until stopped: by polling, or by webhook when WEBHOOK_URL is set.

    Raises :class:`SettingsError` for an unusable state directory, and
    :class:`Fatal` when Telegram refuses the token, at start or later.
    """
    from bot.engine import Engine

    quiet_http_logs()
    os.umask(0o077)  # whatever this process creates (the stores, -wal, -shm) is its owner's only
    prepare_state_dir(settings.state_dir)
    try:
        pseudonyms = Pseudonyms(load_key(key_file=settings.state_dir / "pseudonym.key"))
    except BadKey as exc:
        raise SettingsError(str(exc)) from None
    except OSError as exc:
        raise SettingsError(f"The pseudonym key in {settings.state_dir} could not be read or "
                            f"written ({exc.strerror or type(exc).__name__}).") from None
    directory = content.load_directory()
    replies = FixedReplies.build(directory, settings.retention_days)
    app = build_application(settings, lambda: Engine.load(model, endpoints), replies, pseudonyms,
                            models_folder=Path(model).parent)
    try:
        if settings.webhook_url:
            app.run_webhook(
                listen=settings.listen,
                port=settings.port,
                url_path=urlparse(settings.webhook_url).path.lstrip("/"),
                webhook_url=settings.webhook_url,
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except (InvalidToken, Forbidden):
        raise Fatal(TOKEN_REFUSED) from None
    except NetworkError as exc:
        raise Fatal(f"Telegram's Bot API could not be reached at start ({type(exc).__name__}); "
                    "check the network and TELEGRAM_API_BASE_URL") from None
    if "fatal" in app.bot_data:
        raise Fatal(app.bot_data["fatal"])


def prepare_state_dir(folder: Path) -> None:
    """Make the state directory private (0700, its files 0600, whatever the umask was
    when they were made), or fail at once, in one line, if it cannot be written."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        for path in folder.iterdir():
            if path.is_file():
                path.chmod(0o600)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"x")
            probe.flush()
    except OSError as exc:
        raise SettingsError(f"The state directory {folder} is not usable ({exc.strerror or exc}): "
                            "make it writable, or set SIGNPOST_STATE_DIR") from None
