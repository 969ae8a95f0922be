"""Logging that keeps what people write out of the logs, and off stdout.

Rasa 3.6 logs through structlog. Left unconfigured, structlog prints every
debug event to stdout, including the user's message text and the dialogue
state; that would leak private text into logs and corrupt ``converse``'s
machine-readable stdout. Here structlog is routed into standard logging on
stderr, filtered at WARNING (DEBUG with ``-v``), and every record passes
``bot.redaction``, which keeps message text out at every level unless
``SIGNPOST_LOG_MESSAGE_TEXT`` is on.
"""

from __future__ import annotations

import logging
import sys

from bot import redaction

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Libraries whose debug lines help when something goes wrong: shown with -v,
# redacted by bot.redaction. httpx and httpcore stay as the Telegram adapter
# sets them (their URLs hold the bot token).
VERBOSE_LIBRARIES = ("rasa", "telegram")
# SQLAlchemy's INFO echo prints every statement with its parameters, which
# hold whole conversations: never, even with -v.
SILENT_LIBRARIES = ("sqlalchemy",)


def configure(verbose: bool = False) -> None:
    """Logging for a command: our own messages at INFO, libraries' at WARNING.

    With ``verbose``, our own and Rasa's and PTB's debug lines too.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format=FORMAT)
    redaction.install(logging.getLogger().handlers)
    logging.getLogger("bot").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in VERBOSE_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    for name in SILENT_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Rasa's pinned dependencies warn about their own deprecated APIs at every
    # start: noise for a person running the bot, not something to act on. Some
    # of them reset warning filters, so warnings are filtered as log records.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)
    quiet_rasa(logging.DEBUG if verbose else logging.WARNING)


def quiet_rasa(level: int = logging.WARNING) -> None:
    """Route Rasa's structlog events into standard logging, values redacted."""
    import structlog

    scrub = [] if redaction.text_allowed() else [redaction.scrub_event]
    mark = [] if redaction.text_allowed() else [redaction.mark_scrubbed]
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            *scrub,
            structlog.processors.KeyValueRenderer(key_order=["level", "event"]),
            *mark,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )


def ensure_rasa_quiet() -> None:
    """Quieten Rasa unless the application already configured structlog."""
    import structlog

    if not structlog.is_configured():
        quiet_rasa()
