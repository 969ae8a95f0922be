"""The ledger of updates: which are answered, and which are pending (taken, not yet answered).

It is what lets delivery be at least once without answering twice:

* *answered*: an update's id once its answer, or the fail-safe, was sent, or it
  was given up; never its text. A retry of that update (Telegram sending it
  again after a restart, or a load balancer sending it to a second instance)
  is skipped.
* *pending*: in webhook mode, an update is recorded here, with its content,
  before Telegram is told 200; after a crash the instance that took it answers
  it at start. Its content is deleted the moment it is answered. A pending
  update whose instance never came back is taken over by another after
  :data:`STALE_PENDING`.

Two stores, one interface (:class:`Ledger`): SQLite in the state directory for
one instance, and PostgreSQL, shared by every instance, when the tracker store
in endpoints.yml is PostgreSQL or SIGNPOST_LEDGER_URL names one
(:func:`open_ledger`). A ledger that cannot be used (a locked file, a lost
connection) is logged and otherwise ignored: it can at worst cause a repeated
reply, never a stall or a lost message.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Callable

logger = logging.getLogger(__name__)

# Telegram keeps undelivered updates for 24 hours; remember handled ones a little longer.
LEDGER_DAYS = 2
# A pending update this old belongs to an instance that did not come back: any instance takes it.
STALE_PENDING = 15 * 60

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS answered (bot_id BIGINT, update_id BIGINT, at DOUBLE PRECISION,"
    " PRIMARY KEY (bot_id, update_id))",
    "CREATE TABLE IF NOT EXISTS pending (bot_id BIGINT, update_id BIGINT, owner TEXT,"
    " content TEXT, at DOUBLE PRECISION, PRIMARY KEY (bot_id, update_id))",
]


class Ledger:
    """Answered and pending updates of one bot, in an SQL database (see the module's docstring).

    Subclasses supply the connection, the placeholder style and the errors to
    survive; the statements are the same SQL for SQLite and PostgreSQL.
    """

    errors: tuple[type[BaseException], ...] = ()
    mark = "?"

    def __init__(self, bot_id: int, owner: str) -> None:
        self._bot = bot_id
        self.owner = owner  # this instance, as the taker of pending updates

    # --- what subclasses provide ---------------------------------------------------

    def _execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def _transaction(self, statements: list[tuple[str, tuple]]) -> list[int]:
        """Run the statements as one transaction; their row counts."""
        raise NotImplementedError

    # --- the interface ---------------------------------------------------------------

    def add(self, update_id: int) -> None:
        """Record ``update_id`` as answered (or given up), and drop its pending content.

        The pending row stays, emptied, so that an instance that checked "answered"
        a moment before still cannot take the update (its insert conflicts).
        """
        self._quietly(lambda: self._transaction([
            (self._sql("INSERT INTO answered VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
             (self._bot, update_id, time.time())),
            (self._sql("UPDATE pending SET content = NULL WHERE bot_id = ? AND update_id = ?"),
             (self._bot, update_id)),
        ]))

    def __contains__(self, update_id: int) -> bool:
        # Unreadable: treat as new, which can only repeat a reply.
        return bool(self._quietly(lambda: self._answered(update_id)))

    def hold(self, update_id: int, content: str) -> bool | None:
        """Record an update as pending, taken by this instance, before it is acknowledged.

        True: recorded, so it is safe to acknowledge. False: already answered or
        taken (by this instance or another), so it must not be answered again.
        None: the ledger could not be used; answer it before acknowledging.
        """
        def hold() -> bool:
            if self._answered(update_id):
                return False
            (inserted,) = self._transaction([(self._sql(
                "INSERT INTO pending VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                (self._bot, update_id, self.owner, content, time.time()))])
            return inserted == 1
        return self._quietly(hold, failed=None)

    def take_pending(self, stale_only: bool = False) -> list[tuple[int, str]]:
        """The pending updates this instance should answer now, oldest first, as
        (update id, content): its own from before a restart, and any left stale by
        an instance that did not come back; they become this instance's."""
        def take() -> list[tuple[int, str]]:
            stale = time.time() - STALE_PENDING
            condition = "at < ?" if stale_only else "(owner = ? OR at < ?)"
            args = (stale,) if stale_only else (self.owner, stale)
            rows = self._execute(self._sql(
                f"SELECT update_id, content FROM pending WHERE bot_id = ? AND "
                f"content IS NOT NULL AND {condition}"),
                (self._bot, *args))
            for update_id, _ in rows:
                self._transaction([(self._sql(
                    "UPDATE pending SET owner = ?, at = ? WHERE bot_id = ? AND update_id = ?"),
                    (self.owner, time.time(), self._bot, update_id))])
            return sorted(rows)
        return self._quietly(take, failed=[])

    def forget_before(self, update_id: int) -> None:
        """Drop what Telegram will not send again: ids below the confirmed offset, and
        anything older than Telegram keeps updates (any bot's)."""
        old = time.time() - LEDGER_DAYS * 86400
        self._quietly(lambda: self._transaction([
            (self._sql("DELETE FROM answered WHERE (bot_id = ? AND update_id < ?) OR at < ?"),
             (self._bot, update_id, old)),
            (self._sql("DELETE FROM pending WHERE content IS NULL AND at < ?"), (old,)),
        ]))

    # --- helpers -----------------------------------------------------------------------

    def _answered(self, update_id: int) -> bool:
        return bool(self._execute(
            self._sql("SELECT 1 FROM answered WHERE bot_id = ? AND update_id = ?"),
            (self._bot, update_id)))

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self.mark)

    def _quietly(self, action: Callable[[], Any], failed: Any = None) -> Any:
        try:
            return action()
        except self.errors as exc:
            logger.error("The update ledger could not be used (%s); carrying on without it",
                         type(exc).__name__)
            self._recover()
            return failed

    def _recover(self) -> None:
        """After an error: make the next call able to succeed."""

    def close(self) -> None:
        self._quietly(lambda: self._db.close())


class SQLiteLedger(Ledger):
    """The ledger in a small SQLite file in the state directory: one instance."""

    errors = (sqlite3.Error,)

    def __init__(self, path: Path, bot_id: int, owner: str = "this-instance") -> None:
        super().__init__(bot_id, owner)
        # A short busy timeout: these calls run on the event loop, and a locked
        # file must not hold up every chat (a failed write is only logged).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=0.2)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives the process being killed
        self._db.execute("DROP TABLE IF EXISTS handled")  # the unscoped ledger of old versions
        for statement in _SCHEMA:
            self._db.execute(statement)
        self.forget_before(0)

    def _execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._db.execute(sql, args).fetchall()

    def _transaction(self, statements: list[tuple[str, tuple]]) -> list[int]:
        counts = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                counts.append(self._db.execute(sql, args).rowcount)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return counts


# The name of earlier versions, which tests and tools still use.
HandledUpdates = SQLiteLedger


class PostgresLedger(Ledger):
    """The ledger in PostgreSQL, shared by every instance behind one URL."""

    mark = "%s"

    def __init__(self, dsn: str, bot_id: int, owner: str) -> None:
        import psycopg2

        super().__init__(bot_id, owner)
        self.errors = (psycopg2.Error,)
        self._dsn = dsn
        self._db = None
        self._connect()
        # Instances starting together would race to create the tables: one at a time.
        self._transaction([("SELECT pg_advisory_xact_lock(74310018)", ()),
                           *[(statement, ()) for statement in _SCHEMA]])
        self.forget_before(0)

    def _connect(self) -> Any:
        import psycopg2

        if self._db is None or self._db.closed:
            # A short statement time-out: these calls run on the event loop.
            self._db = psycopg2.connect(self._dsn, connect_timeout=5,
                                        options="-c statement_timeout=2000")
            self._db.autocommit = False
        return self._db

    def _execute(self, sql: str, args: tuple = ()) -> list[tuple]:
        db = self._connect()
        with db.cursor() as cursor:
            cursor.execute(sql, args)
            rows = cursor.fetchall() if cursor.description else []
        db.commit()
        return rows

    def _transaction(self, statements: list[tuple[str, tuple]]) -> list[int]:
        db = self._connect()
        counts = []
        try:
            with db.cursor() as cursor:
                for sql, args in statements:
                    cursor.execute(sql, args)
                    counts.append(cursor.rowcount)
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return counts

    def _recover(self) -> None:
        try:
            if self._db is not None and not self._db.closed:
                self._db.rollback()
        except Exception:  # the connection is gone: the next call reconnects
            self._db = None


def postgres_dsn(endpoints: Path | None) -> str | None:
    """The tracker store's PostgreSQL, as a connection string, if endpoints.yml names one."""
    if endpoints is None or not Path(endpoints).exists():
        return None
    from rasa.utils.endpoints import read_endpoint_config

    config = read_endpoint_config(str(endpoints), "tracker_store")
    if config is None or str(config.type).lower() != "sql" or \
            str(config.kwargs.get("dialect", "")).lower() not in ("postgresql", "postgres"):
        return None
    parts = {"host": config.url or "localhost", "port": config.kwargs.get("port"),
             "dbname": config.kwargs.get("db"), "user": config.kwargs.get("username"),
             "password": config.kwargs.get("password")}
    return " ".join(f"{key}='{_quoted(value)}'" for key, value in parts.items() if value)


def _quoted(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def instance_id(state_dir: Path) -> str:
    """This instance's name as a taker of pending updates: kept in its state directory,
    so that after a restart it answers what it took before."""
    path = state_dir / "instance.id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        name = uuid.uuid4().hex
        path.write_text(name)
        path.chmod(0o600)
        return name


def open_ledger(state_dir: Path, bot_id: int, ledger_url: str | None,
                endpoints: Path | None) -> Ledger:
    """PostgreSQL when SIGNPOST_LEDGER_URL or the tracker store names it; else SQLite.

    Raises the store's own error when it cannot be opened (the caller says so in one line).
    """
    dsn = ledger_url or postgres_dsn(endpoints)
    if dsn:
        return PostgresLedger(dsn, bot_id, instance_id(state_dir))
    return SQLiteLedger(state_dir / "telegram-updates.db", bot_id)
