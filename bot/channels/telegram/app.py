"""The Telegram adapter: how the public reaches the bot. This module wires it together.

Built the way python-telegram-bot's own examples are: ``Application.builder()``,
small async handlers, PTB's rate limiter, PTB's ``run_polling``, and for
webhooks PTB's supported custom web server. The rooms:

* settings.py: the settings, parsed once from the environment;
* handlers.py: what each kind of update is answered with, safety first;
* delivery.py: ordering per chat, retries, confirming updates once answered,
  floods coalesced, each update's first message first;
* ledger.py: which updates are answered or pending (SQLite or PostgreSQL);
* webhook.py: webhook mode, acknowledging an update only once it is safe;
* jobs.py: the periodic work, on PTB's JobQueue.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.error import Forbidden, InvalidToken, NetworkError
from telegram.ext import Application, Defaults
from telegram.request import HTTPXRequest

from bot import content, project
from bot.channels.telegram import jobs, webhook
from bot.channels.telegram.delivery import (TOKEN_REFUSED, ConfirmingBot, FirstMessagesFirst,
                                            PerChatOrder)
from bot.channels.telegram.fixed_replies import FixedReplies
from bot.channels.telegram.handlers import COMMANDS, SignpostBot
from bot.channels.telegram.ledger import open_ledger
from bot.channels.telegram.pseudonyms import BadKey, Pseudonyms, load_key
from bot.channels.telegram.settings import Settings, SettingsError, webhook_secret_for

__all__ = ["COMMANDS", "Fatal", "Settings", "SettingsError", "build_application", "run",
           "webhook_secret_for"]

logger = logging.getLogger(__name__)


class Fatal(RuntimeError):
    """The bot cannot go on (Telegram refuses its token); the message says why, in one line."""


def build_application(settings: Settings, engine_loader: Any, replies: FixedReplies,
                      pseudonyms: Pseudonyms, models_folder: Path | None = None,
                      endpoints: Path | None = None) -> Application:
    """The PTB application. ``engine_loader`` is awaited once, inside PTB's event loop.

    With ``models_folder``, a newer model appearing there is swapped in live.
    ``endpoints`` says where the ledger lives (PostgreSQL if its tracker store is).
    """
    signpost = SignpostBot(None, settings, replies, pseudonyms)
    webhook_mode = bool(settings.webhook_url)

    async def post_init(app: Application) -> None:
        signpost.use_engine(await engine_loader())
        await app.bot.set_my_commands([BotCommand(name, about) for name, about in COMMANDS])
        jobs.schedule(app, signpost, models_folder, webhook_mode)
        logger.info("Signpost is ready on Telegram (%s)", "webhook" if webhook_mode else "polling")

    async def post_stop(app: Application) -> None:
        ledger.close()  # a PostgreSQL connection is not left for the server to time out

    try:
        ledger = open_ledger(settings.state_dir, settings.bot_id, settings.ledger_url, endpoints)
    except Exception as exc:  # sqlite3 or psycopg2: the store's own error
        raise SettingsError(f"The update ledger cannot be used ({type(exc).__name__}): for "
                            f"SQLite, free or move aside {settings.state_dir / 'telegram-updates.db'}"
                            "; for PostgreSQL, check the database is reachable.") from None
    bot = ConfirmingBot(
        settings.token,
        base_url=settings.base_url,
        defaults=Defaults(link_preview_options=LinkPreviewOptions(is_disabled=True)),
        # PTB's rate limiter keeps within Telegram's limits and waits out 429s.
        rate_limiter=FirstMessagesFirst(overall_max_rate=settings.max_messages_per_second,
                                        max_retries=3),
        request=HTTPXRequest(connection_pool_size=256),
        get_updates_request=HTTPXRequest(),
        ledger=ledger,
        retry_for=settings.send_retry_seconds,
    )
    order = PerChatOrder(settle=signpost.settle, confirm=bot.confirm,
                         give_up_seconds=settings.give_up_seconds,
                         after_skipping=signpost.after_skipping)
    builder = Application.builder().bot(bot).concurrent_updates(order).post_init(post_init)\
        .post_stop(post_stop)
    if webhook_mode:
        builder = builder.updater(None)  # webhook.py feeds the update queue itself
    app = builder.build()
    order.application = app

    def stop_for_good(reason: str) -> None:
        if "fatal" not in app.bot_data:
            app.bot_data["fatal"] = reason
            app.bot_data.get("stop", app.stop_running)()

    bot.on_fatal(stop_for_good)
    signpost.register(app)
    app.bot_data["signpost"] = signpost
    return app


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
                            models_folder=Path(model).parent, endpoints=endpoints)
    try:
        if settings.webhook_url:
            asyncio.run(webhook.serve(app, settings))
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except (InvalidToken, Forbidden):
        raise Fatal(TOKEN_REFUSED) from None
    except NetworkError as exc:
        raise Fatal(f"Telegram's Bot API could not be reached at start ({type(exc).__name__}); "
                    "check the network and TELEGRAM_API_BASE_URL") from None
    except OSError as exc:
        if not settings.webhook_url or exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL,
                                                          errno.EACCES):
            raise
        # The webhook's port is taken, or the address is not this host's.
        raise SettingsError(f"The webhook server cannot listen on {settings.listen}:{settings.port} "
                            f"({exc.strerror or type(exc).__name__}): set WEBHOOK_LISTEN and "
                            "WEBHOOK_PORT") from None
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
