"""The Telegram handlers: what the bot answers to each kind of update.

Every text goes to the dialogue engine under a pseudonymous conversation id,
and every text a person sends is assessed for danger, whatever path it takes:
words after a command, an unknown command (read as text), a caption, an edit,
a group message; the crisis answer goes first, then the usual reply. Replies
are split to Telegram's limit and sent as plain text, so nothing a user types
can break the formatting; a reply that cannot be sent is replaced by the
fixed fail-safe reply (999, 101, Childline), logged without the message text.
How far each answer got is kept until the update is confirmed, so that
handling it again (bot/channels/telegram/delivery.py) neither asks the engine
again nor repeats a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import BulkRequestLimit
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, \
    MessageHandler, filters

from bot import safety
from bot.channels.telegram.delivery import first_message
from bot.channels.telegram.fixed_replies import FixedReplies
from bot.channels.telegram.pseudonyms import Pseudonyms
from bot.channels.telegram.settings import Settings
from bot.channels.telegram.splitting import split_message

logger = logging.getLogger(__name__)

# Telegram lets a bot delete messages in a private chat for 48 hours; /clear
# asks for the most recent ones by id, in the batches the API accepts.
CLEAR_RECENT_MESSAGES = 1000
DELETE_BATCH = int(BulkRequestLimit.MAX_LIMIT)  # PTB's enum member formats as its name

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
                await self._send_one(update, piece, keyboard if number == len(pieces) else None,
                                     first=progress.sent == 0)
            except Forbidden:  # the person blocked the bot: nothing can reach them
                logger.warning("A chat cannot be written to (Forbidden); its update is given up")
                raise _GaveUp from None
            except (TelegramError, asyncio.TimeoutError) as exc:
                await self._send_failsafe(update, progress, exc)
            progress.sent += 1

    async def _send_one(self, update: Update, text: str,
                        keyboard: InlineKeyboardMarkup | None = None, first: bool = False) -> None:
        """``first``: the update's first message, which goes ahead of other chats' later
        messages (delivery.FirstMessagesFirst)."""
        bot = update.get_bot()
        with first_message() if first else contextlib.nullcontext():
            # The bot retries for retry_for; the margin covers the last request's own time-out.
            await asyncio.wait_for(bot.send_message(update.effective_chat.id, text,
                                                    reply_markup=keyboard),
                                   getattr(bot, "retry_for", 30.0) + 15)

    async def _send_failsafe(self, update: Update, progress: _Progress, error: Exception) -> None:
        logger.error("A reply could not be sent (%s); sending the fail-safe reply",
                     type(error).__name__)
        try:
            for number, piece in enumerate(split_message(self.replies.failsafe)):
                await self._send_one(update, piece, first=progress.sent == 0 and number == 0)
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

    def settle(self, update: object, giving_up: bool = False) -> bool:
        """Whether ``update`` is done with (PerChatOrder confirms it); if not, it is
        handled again, resuming where its answer stopped. ``giving_up``: it is done
        with, answered or not."""
        if not isinstance(update, Update):
            return True
        progress = self._progress.get(update.update_id)
        if progress is not None and progress.undelivered and not giving_up:
            progress.undelivered, progress.reached = False, 0
            return False
        self._progress.pop(update.update_id, None)
        return True

    async def after_skipping(self, update: Update) -> None:
        """Said once a flood of messages was coalesced (PerChatOrder skipped some)."""
        try:
            for piece in split_message(self.replies.one_at_a_time):
                await self._send_one(update, piece)
        except (TelegramError, asyncio.TimeoutError) as exc:
            logger.warning("Could not say that messages were skipped (%s)", type(exc).__name__)

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
