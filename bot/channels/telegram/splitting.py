"""Split replies to fit Telegram's 4,096-character message limit.

Long replies are cut where a reader would pause: between paragraphs, then
lines, then sentences, then words; only a single unbroken run longer than the
limit is cut mid-word.
"""

from __future__ import annotations

import re

from telegram.constants import MessageLimit

TELEGRAM_LIMIT = MessageLimit.MAX_TEXT_LENGTH
_BREAKS = [re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+")]


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Pieces of ``text``, each at most ``limit`` characters, none empty."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    for pattern in _BREAKS:
        cut = _last_break(text, pattern, limit)
        if cut:
            head, tail = text[: cut[0]], text[cut[1]:]
            return [head.rstrip()] + split_message(tail, limit)
    return [text[:limit]] + split_message(text[limit:], limit)


def _last_break(text: str, pattern: re.Pattern, limit: int) -> tuple[int, int] | None:
    """The last break (start, end) whose start leaves a head within ``limit``."""
    best = None
    for match in pattern.finditer(text, 0, limit + 1):
        if 0 < match.start() <= limit:
            best = (match.start(), match.end())
    return best
