"""Keep what people write out of the logs, at every level, DEBUG included.

Libraries log message text in their own words: Rasa's debug events carry the
parsed text, entities, tracker events and bot utterances; PTB logs every Bot
API call with its parameters and every update it processes; httpcore traces
requests. We cannot vet each of those lines, so unless
``SIGNPOST_LOG_MESSAGE_TEXT`` is on, no value from a library reaches a log:

* a structlog event (Rasa) keeps its event name and the names of its fields;
  every value is replaced by ``<redacted>``;
* a standard-library record from a library keeps its format string, with every
  ``%s``-style value replaced by ``<redacted>``;
* a library's record below WARNING without separate values is dropped: its text
  was formatted before it reached us (an f-string), so text may be baked in;
* a Python warning (``py.warnings``) keeps its category and where it was
  raised, not its words: a library's warning may quote the message (Rasa's
  "Failed to parse arguments in line '/affirm{...}'" for payload-shaped text);
* our own ``bot`` loggers pass unchanged: they log no message text (the one
  line that does is behind the same variable).

Warnings and errors from libraries are kept, so a failing service still says
why. Those we checked (Rasa's processor, agent, stores; PTB) name at most a
pseudonymous conversation id, never the text.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

ENV = "SIGNPOST_LOG_MESSAGE_TEXT"
REDACTED = "<redacted>"
TRUSTED = ("bot",)
WARNINGS = "py.warnings"  # the logger logging.captureWarnings writes to

# How warnings.formatwarning begins: "path:line: Category: " (Rasa adds colour codes).
_WARNING_HEAD = re.compile(r"^\s*(?P<where>\S.*?:\d+): (?P<category>[A-Za-z_][\w.]*): ")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# A printf-style conversion: %s, %r, %d, %(name)s, %-10.3f, ... (%% is a literal).
_CONVERSION = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[a-zA-Z%]")


def text_allowed(environ: Any = os.environ) -> bool:
    """Whether a developer asked for message text in the logs (debugging only)."""
    return environ.get(ENV, "").strip().lower() in ("1", "true", "yes")


class Scrubbed(str):
    """A structlog event already redacted here; the log filter lets it through."""


def scrub_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: keep the event name and field names, redact the values."""
    return {key: (value if key in ("event", "level") else REDACTED) for key, value in event.items()}


def mark_scrubbed(_logger: Any, _name: str, rendered: str) -> Scrubbed:
    """structlog processor, after the renderer: mark the line as redacted."""
    return Scrubbed(rendered)


class MessageTextFilter(logging.Filter):
    """A handler filter: redacts or drops library records that could carry text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if any(record.name == name or record.name.startswith(name + ".") for name in TRUSTED):
            return True
        if isinstance(record.msg, Scrubbed):
            return True
        if record.name == WARNINGS:
            head = _WARNING_HEAD.match(_COLOUR.sub("", record.getMessage()))
            record.msg = f"{head['where']}: {head['category']}: {REDACTED}" if head else REDACTED
            record.args = None
            return True
        if record.args:
            record.msg = _CONVERSION.sub(
                lambda m: "%" if m.group() == "%%" else REDACTED, str(record.msg))
            record.args = None
            return True
        if record.levelno < logging.WARNING:
            return False
        return True


def install(handlers: list[logging.Handler]) -> None:
    """Put the filter on ``handlers`` unless message text is allowed in logs."""
    if text_allowed():
        return
    for handler in handlers:
        if not any(isinstance(f, MessageTextFilter) for f in handler.filters):
            handler.addFilter(MessageTextFilter())
