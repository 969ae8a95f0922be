"""Logging that keeps what people write out of the logs, and off stdout.

Rasa 3.6 logs through structlog. Left unconfigured, structlog prints every
debug event to stdout, including the user's message text and the dialogue
state; that would leak private text into logs and corrupt ``converse``'s
machine-readable stdout. Here structlog is routed into standard logging on
stderr and filtered at WARNING, which also keeps log formatting off the
per-message path.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(verbose: bool = False) -> None:
    """Logging for a command: our own messages at INFO, Rasa's at WARNING."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format=FORMAT)
    logging.getLogger("bot").setLevel(logging.DEBUG if verbose else logging.INFO)
    # Rasa's pinned dependencies warn about their own deprecated APIs at every
    # start: noise for a person running the bot, not something to act on. Some
    # of them reset warning filters, so warnings are filtered as log records.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)
    quiet_rasa()


def quiet_rasa() -> None:
    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["level", "event"]),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=True,
    )


def ensure_rasa_quiet() -> None:
    """Quieten Rasa unless the application already configured structlog."""
    import structlog

    if not structlog.is_configured():
        quiet_rasa()
