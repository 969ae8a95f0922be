"""The adapter's periodic work, on PTB's JobQueue: started and stopped with the application.

* erase conversations idle for longer than the retention period (hourly);
* serve a newer model once one appears in the models folder (every few seconds);
* answer pending webhook updates left by an instance that did not come back
  (every minute; bot/channels/telegram/ledger.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.channels.telegram.fixed_replies import FixedReplies

logger = logging.getLogger(__name__)

ERASE_EVERY = 3600.0
MODEL_CHECK_EVERY = 2.0
STALE_CHECK_EVERY = 60.0


def schedule(app: Application, signpost: Any, models_folder: Path | None,
             webhook: bool) -> None:
    jobs = app.job_queue
    jobs.run_repeating(erase_old_conversations, ERASE_EVERY, first=0, name="erase",
                       data=signpost)
    if models_folder:
        watcher = ModelWatcher(signpost, models_folder)
        jobs.run_repeating(watcher, MODEL_CHECK_EVERY, first=MODEL_CHECK_EVERY, name="models")
    if webhook:
        jobs.run_repeating(answer_stale_pending, STALE_CHECK_EVERY, first=STALE_CHECK_EVERY,
                           name="stale")


async def erase_old_conversations(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Erase conversations idle for longer than the retention period."""
    signpost = context.job.data
    days = signpost.settings.retention_days
    try:
        erased = await signpost.engine.forget_inactive(days * 86400)
        if erased:
            logger.info("Erased %d conversation(s) idle for over %g days", erased, days)
    except Exception as exc:
        logger.error("Could not erase old conversations: %s", type(exc).__name__)


class ModelWatcher:
    """Serve the newest model in ``folder`` once it appears (``make train`` writes one there)."""

    def __init__(self, signpost: Any, folder: Path) -> None:
        self.signpost, self.folder = signpost, folder
        self.failed: set[Path] = set()
        self.served_since: float | None = None

    async def __call__(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        signpost = self.signpost
        if self.served_since is None:
            self.served_since = signpost.engine.model.stat().st_mtime
        try:
            candidates = [(m.stat().st_mtime, m) for m in self.folder.glob("*.tar.gz")
                          if m not in self.failed]
        except OSError:  # a model removed while we looked: try again next time
            return
        newest_time, newest = max(candidates, default=(0.0, None))
        if newest is None or newest_time <= self.served_since:
            return
        try:
            # /services, /emergency and the fail-safe give the numbers the new model gives.
            await signpost.engine.reload(newest)
            replies = FixedReplies.build(signpost.engine.directory, signpost.settings.retention_days)
            signpost.replies, self.served_since = replies, newest_time
            logger.info("Now serving the new model %s", newest.name)
        except Exception as exc:
            self.failed.add(newest)
            logger.error("The new model %s could not be loaded (%s); still serving %s",
                         newest.name, type(exc).__name__, signpost.engine.model.name)


async def answer_stale_pending(context: ContextTypes.DEFAULT_TYPE) -> None:
    await resume_pending(context.application, stale_only=True)


async def resume_pending(app: Application, stale_only: bool = False) -> int:
    """Queue the pending webhook updates this instance should answer, oldest first."""
    import json

    bot = app.bot
    taken = bot.ledger.take_pending(stale_only=stale_only)
    for update_id, content in taken:
        try:
            update = Update.de_json(json.loads(content), bot)
        except Exception as exc:  # unreadable: recorded, so it is not tried for ever
            logger.error("A pending update could not be read (%s); it is given up",
                         type(exc).__name__)
            bot.ledger.add(update_id)
            continue
        bot.resume(update)
        await app.update_queue.put(update)
    if taken:
        logger.info("Answering %d update(s) taken before a restart", len(taken))
    return len(taken)
