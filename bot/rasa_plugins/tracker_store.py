"""Rasa's SQL tracker store on a local SQLite file, tuned for one process.

Rasa's ``SQLTrackerStore`` on SQLite opens a new database connection for every
read and every write (SQLAlchemy 1.4 gives file databases no connection pool)
and makes every write an fsync. Measured here, that was half the time of each
message. This subclass changes only the connection:

* one connection is kept open;
* the journal is write-ahead (WAL) with ``synchronous=NORMAL``: a write is
  safe the moment it commits if the process is killed, and only a power cut
  could lose the last instant of writes;
* a save no longer asks the database how many events it already holds: the
  tracker being saved was read moments before, so it remembers that number
  (trackers that were not read from here fall back to Rasa's query);
* new events are written with one bulk insert instead of one ORM object each;
* a read brings back only the latest turns of the session (``RECENT_TURNS``),
  all the policies look at, so a message's cost does not grow with the length
  of its conversation;
* the database and its -wal and -shm files are readable by their owner only
  (conversations are private, whatever the umask was when they were made);
* reads and writes run on a worker thread (one at a time: the connection is
  shared), so a database locked by another process, which makes SQLite wait
  up to its busy timeout, never stalls the event loop: other conversations
  keep being answered and the reply timeout stays a real bound;
* an erased conversation leaves no text behind: deleted rows are overwritten
  (``secure_delete``) and the write-ahead journal, which still holds the pages
  as they were, is checkpointed and truncated right after the erasure.

The tables and the rows are Rasa's own, so a database written by either store
can be read by the other. This store is for one process at a time; several
instances share PostgreSQL through Rasa's SQLTrackerStore instead.
Configured in endpoints.yml.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sqlite3
import threading
from typing import Any, Callable, Optional

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool


class SQLiteTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Optional[Domain] = None,
        db: str = "rasa.db",
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("host", None)
        kwargs.pop("dialect", None)
        try:  # Rasa would log the error and carry on without its tables
            with contextlib.closing(sqlite3.connect(db)) as connection:
                connection.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as exc:  # Rasa reports ConnectionError as unreachable
            raise ConnectionError(f"the SQLite database could not be opened "
                                  f"({type(exc).__name__})") from None
        super().__init__(domain=domain, dialect="sqlite", db=db, event_broker=event_broker)
        self.engine.dispose()
        self.engine = sa.create_engine(
            f"sqlite:///{db}",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        event.listen(self.engine, "connect", _tune)
        event.listen(self.engine, "connect", lambda *_: _make_private(db))
        self.sessionmaker = sessionmaker(bind=self.engine)
        self._connection_lock = threading.Lock()  # one connection, used by one thread at a time

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        query = _ALL_EVENTS if fetch_events_from_all_sessions else _SESSION_EVENTS
        rows = await asyncio.to_thread(self._read, query, sender_id)
        if not self.domain or not rows:
            return None
        events = [json.loads(data) for (data,) in rows]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, _STORED, len(events))
        return tracker

    def _read(self, query: Any, sender_id: str) -> list[Any]:
        with self._connection_lock, self.engine.connect() as connection:
            return connection.execute(query, {"sender": sender_id}).fetchall()

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        await asyncio.to_thread(self._write, tracker)

    def _write(self, tracker: DialogueStateTracker) -> None:
        with self._connection_lock, self.session_scope() as session:
            stored = getattr(tracker, _STORED, None)
            new = list(itertools.islice(
                tracker.events,
                stored if stored is not None else self._count_stored(session, tracker),
                None,
            ))
            if new:
                session.execute(self.SQLEvent.__table__.insert(), [_row(tracker, e) for e in new])
                session.commit()
        setattr(tracker, _STORED, len(tracker.events))

    async def erase(self, choose: Callable[[Any], list[str]]) -> list[str]:
        """Delete the conversations ``choose(self)`` picks; returns their ids.

        Raises if the journal could not be emptied (another reader held it),
        so the person is told the erasure failed rather than that it worked.
        """
        return await asyncio.to_thread(self._erase_now, choose)

    def _erase_now(self, choose: Callable[[Any], list[str]]) -> list[str]:
        with self._connection_lock:
            senders = choose(self)
            with self.session_scope() as session:
                session.query(self.SQLEvent).filter(
                    self.SQLEvent.sender_id.in_(senders)).delete(synchronize_session=False)
                session.commit()
            with self.engine.connect() as connection:
                busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
        if busy:
            raise ErasureIncomplete("the write-ahead journal could not be emptied")
        return senders

    def _count_stored(self, session: Any, tracker: DialogueStateTracker) -> int:
        return self._event_query(session, tracker.sender_id,
                                 fetch_events_from_all_sessions=False).count()


class ErasureIncomplete(RuntimeError):
    """Erased rows may still be readable in the write-ahead journal."""


# Set on trackers read from this store: how many of their events are in the database.
_STORED = "_signpost_events_stored"

# How many of the latest turns a read brings back. The policies look no further:
# MemoizationPolicy at its default max_history of 5 turns, and RulePolicy at the
# longest rule or story (5 turns in data/); there are no slots or forms whose
# value would live in older events, and no conversation_start rules. Twice that,
# so a reply late in a long conversation costs what an early one does instead
# of replaying the whole session. Full histories still come from
# retrieve_full_tracker.
RECENT_TURNS = 10

# Rasa's own retrieval, as one prepared statement instead of an ORM query: all
# events, or those of the latest session (from its session_started event on)
# that are within the latest RECENT_TURNS turns (from an action_listen on).
_ALL_EVENTS = sa.text("SELECT data FROM events WHERE sender_id = :sender ORDER BY id")
_SESSION_EVENTS = sa.text(
    "SELECT data FROM events WHERE sender_id = :sender AND id >= MAX("
    "COALESCE((SELECT MAX(id) FROM events WHERE sender_id = :sender"
    " AND type_name = 'session_started'), 0),"
    "COALESCE((SELECT id FROM events WHERE sender_id = :sender AND type_name = 'action'"
    f" AND action_name = 'action_listen' ORDER BY id DESC LIMIT 1 OFFSET {RECENT_TURNS - 1}), 0))"
    " ORDER BY id"
)

def _row(tracker: DialogueStateTracker, event: Any) -> dict[str, Any]:
    """The same row Rasa's SQLTrackerStore.save writes for an event."""
    data = event.as_dict()
    return {
        "sender_id": tracker.sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def _make_private(db: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.chmod(db + suffix, 0o600)


def _tune(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages
    cursor.close()
