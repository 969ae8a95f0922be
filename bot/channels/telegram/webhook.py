"""Webhook mode, at least once: Telegram is told 200 only once an update is safe.

PTB's ``run_webhook`` answers 200 as soon as an update is queued, so an
update in the queue when the process dies is lost: Telegram does not send
again what was acknowledged. Here, as in PTB's ``customwebhookbot`` example,
the application is built with ``updater(None)`` and this small aiohttp server
feeds its ``update_queue``; each update is first recorded as pending in the
ledger (bot/channels/telegram/ledger.py), durably, and only then acknowledged.
At start the pending updates this instance took are queued first, before the
server listens, so they are answered first, each chat's in order.

The secret token Telegram sends with each request is checked (403 without
it or with a wrong one), and the server listens on loopback unless told
otherwise (it sits behind a TLS reverse proxy).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from urllib.parse import urlparse

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.channels.telegram import jobs
from bot.channels.telegram.settings import Settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # an update is a few kilobytes


def web_app(app: Application, settings: Settings) -> web.Application:
    path = "/" + urlparse(settings.webhook_url or "").path.lstrip("/")
    secret = settings.webhook_secret.encode()
    bot = app.bot

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            return web.Response(status=403)
        try:
            content = await request.text()
            update = Update.de_json(json.loads(content), bot)
        except Exception:  # not JSON, or not an update: Telegram never sends that
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        taken = bot.take(update, content)
        if taken is False:
            return web.Response()  # answered, or being answered: here or by another instance
        await app.update_queue.put(update)
        if taken is not True:
            await taken  # not recorded: acknowledged once answered
        return web.Response()

    server = web.Application(client_max_size=MAX_BODY)
    server.router.add_post(path, receive)
    return server


async def serve(app: Application, settings: Settings) -> None:
    """Run ``app`` with the webhook server until SIGTERM or SIGINT (or a fatal error)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    app.bot_data["stop"] = stop.set
    async with app:
        if app.post_init:
            await app.post_init(app)
        await app.start()
        try:
            await jobs.resume_pending(app)
            runner = web.AppRunner(web_app(app, settings), access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, settings.listen, settings.port).start()
                await app.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                          allowed_updates=Update.ALL_TYPES)
                logger.info("Listening for Telegram's webhook on %s:%d", settings.listen,
                            settings.port)
                await stop.wait()
            finally:
                await runner.cleanup()
        finally:
            await app.stop()
            if app.post_stop:
                await app.post_stop(app)
