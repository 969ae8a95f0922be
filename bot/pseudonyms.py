"""Pseudonymous conversation ids: a keyed hash of the Telegram chat id.

The engine, the tracker store and the logs never see a raw Telegram id. The
same chat always maps to the same id (so the conversation continues), but
without the key nobody can tell which chat an id belongs to, or test a guess.
The key comes from SIGNPOST_ID_KEY, or is generated once and kept in a file
only its owner can read (in SIGNPOST_STATE_DIR, var/ by default).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from bot import project

KEY_ENV = "SIGNPOST_ID_KEY"
KEY_FILE = project.ROOT / "var" / "pseudonym.key"


def load_key(env: dict[str, str] | None = None, key_file: Path = KEY_FILE) -> bytes:
    """The HMAC key: from the environment, else from (or newly into) ``key_file``."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV):
        return env[KEY_ENV].encode()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_bytes().strip()
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(32))
    return key_file.read_bytes().strip()


class Pseudonyms:
    def __init__(self, key: bytes, prefix: str = "tg-") -> None:
        self._key = key
        self._prefix = prefix

    def of(self, chat_id: int) -> str:
        digest = hmac.new(self._key, str(chat_id).encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}{digest[:32]}"
