"""Pseudonymous conversation ids: a keyed hash of the Telegram chat id.

The engine, the tracker store and the logs never see a raw Telegram id. The
same chat always maps to the same id (so the conversation continues), but
without the key nobody can tell which chat an id belongs to, or test a guess.
The key comes from SIGNPOST_ID_KEY, or is generated once and kept in a file
only its owner can read (in SIGNPOST_STATE_DIR, var/ by default).

A key shorter than 32 bytes is refused, not used: a short key can be guessed,
and an empty one makes every pseudonym a plain hash of the chat id, which
anyone can recompute. The key file is written whole under another name and
then linked into place, so a crash can never leave an empty or partial key,
and two instances starting at once end up with the same one.
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
MIN_KEY_BYTES = 32


class BadKey(ValueError):
    """The pseudonym key is unusable; the message says why and what to do, in one line."""


def load_key(env: dict[str, str] | None = None, key_file: Path = KEY_FILE) -> bytes:
    """The HMAC key: from the environment, else from (or newly into) ``key_file``."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV):
        return _long_enough(env[KEY_ENV].encode(), f"{KEY_ENV} is shorter than {MIN_KEY_BYTES} "
                            "bytes: set a longer random key, e.g. from 'openssl rand -hex 32'")
    if not key_file.exists():
        _write_new_key(key_file)
    return _long_enough(key_file.read_bytes().strip(),
                        f"The pseudonym key file {key_file} is empty or shorter than "
                        f"{MIN_KEY_BYTES} bytes: restore it from a backup, or delete it to make "
                        "a new one (every conversation then starts afresh)")


def _long_enough(key: bytes, problem: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise BadKey(problem)
    return key


def _write_new_key(key_file: Path) -> None:
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = key_file.with_name(f".{key_file.name}.{secrets.token_hex(4)}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(partial, key_file)  # fails if another instance got there first: use theirs
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)


class Pseudonyms:
    def __init__(self, key: bytes, prefix: str = "tg-") -> None:
        self._key = _long_enough(key, f"A pseudonym key needs at least {MIN_KEY_BYTES} bytes")
        self._prefix = prefix

    def of(self, chat_id: int) -> str:
        digest = hmac.new(self._key, str(chat_id).encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}{digest[:32]}"
