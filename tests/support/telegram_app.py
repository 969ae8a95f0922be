"""The real python-telegram-bot application, run in the test's own process against
the Bot API stand-in, for tests that drive the adapter with engines of their own."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, Callable

from bot import content
from bot.channels.telegram.app import Settings, build_application
from bot.channels.telegram.fixed_replies import FixedReplies
from bot.channels.telegram.pseudonyms import Pseudonyms


def run_in_process(standin: Any, engine: Any, test: Callable[[], None], *, token: str, key: str,
                   loop: asyncio.AbstractEventLoop | None = None, **settings: Any) -> None:
    """Poll ``standin`` with ``engine`` while ``test`` runs on a worker thread (on ``loop``,
    the real engine's, when given); ``settings`` are Settings fields."""
    settings.setdefault("state_dir", Path(tempfile.mkdtemp(prefix="signpost-state-")))
    config = Settings(token=token, base_url=standin.base_url, **settings)
    replies = FixedReplies.build(content.load_directory(), config.retention_days)

    async def load():
        return engine

    async def main():
        app = build_application(config, load, replies, Pseudonyms(key.encode()))
        async with app:
            await app.post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0.05, timeout=1)
            try:
                await asyncio.get_running_loop().run_in_executor(None, test)
            finally:
                await app.updater.stop()
                await app.stop()
                await app.post_stop(app)

    if loop is None:
        asyncio.run(main())
    else:
        loop.run_until_complete(main())
