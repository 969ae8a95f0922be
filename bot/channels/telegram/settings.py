"""The Telegram adapter's settings: one frozen dataclass, one parser of the environment.

Every setting is read and checked here, at start, so a bad value ends the
process with one line that names it (README, "Deploying on Telegram").
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bot import project

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
MIN_SECRET = 32
_SECRET = re.compile(rf"^[A-Za-z0-9_-]{{{MIN_SECRET},256}}$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which, in one line."""


@dataclass(frozen=True)
class Settings:
    """The adapter's settings, from the environment (see README, "Deploying on Telegram")."""

    token: str
    base_url: str = DEFAULT_BASE_URL
    webhook_url: str | None = None
    listen: str = "127.0.0.1"  # behind a TLS reverse proxy on the same host
    port: int = 8443
    webhook_secret: str = ""
    reply_timeout: float = 10.0
    send_retry_seconds: float = 30.0
    # An update whose replies still cannot be sent after this long is given up,
    # so one chat that cannot be reached never holds up the others for long.
    give_up_seconds: float = 120.0
    retention_days: float = 7.0
    max_messages_per_second: float = 30.0
    log_message_text: bool = False
    state_dir: Path = project.ROOT / "var"
    # Where the ledger of handled and pending updates lives: a PostgreSQL URL, or
    # None for the tracker store's PostgreSQL if there is one, else SQLite in state_dir.
    ledger_url: str | None = None

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
        ledger_url = env.get("SIGNPOST_LEDGER_URL") or None
        if ledger_url and urlparse(ledger_url).scheme not in ("postgres", "postgresql"):
            raise SettingsError("SIGNPOST_LEDGER_URL must be a PostgreSQL address, e.g. "
                                "postgresql://signpost@db.internal/signpost")
        number = lambda name, default, kind=float: _number(env, name, default, kind)  # noqa: E731
        return cls(
            token=token,
            base_url=env.get("TELEGRAM_API_BASE_URL") or DEFAULT_BASE_URL,
            webhook_url=webhook_url,
            listen=env.get("WEBHOOK_LISTEN") or cls.listen,
            port=number("WEBHOOK_PORT", cls.port, int),
            webhook_secret=secret,
            reply_timeout=number("SIGNPOST_REPLY_TIMEOUT", cls.reply_timeout),
            send_retry_seconds=number("SIGNPOST_SEND_RETRY_SECONDS", cls.send_retry_seconds),
            give_up_seconds=number("SIGNPOST_GIVE_UP_SECONDS", cls.give_up_seconds),
            retention_days=number("SIGNPOST_RETENTION_DAYS", cls.retention_days),
            max_messages_per_second=number("TELEGRAM_MAX_MESSAGES_PER_SECOND",
                                           cls.max_messages_per_second),
            log_message_text=env.get("SIGNPOST_LOG_MESSAGE_TEXT", "").lower() in ("1", "true", "yes"),
            state_dir=Path(env.get("SIGNPOST_STATE_DIR") or cls.state_dir),
            ledger_url=ledger_url,
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
