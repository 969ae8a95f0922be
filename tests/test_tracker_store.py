"""The tuned SQLite tracker store keeps Rasa's format and Rasa's behaviour."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.engine import Engine, EngineError
from bot.rasa_plugins.store_guard import TrackerStoreFailure
from bot.rasa_plugins.tracker_store import SQLiteTrackerStore

DOMAIN = Domain.from_dict({"intents": ["greet"]})


def conversation(sender: str, sessions: int) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, DOMAIN.slots)
    for session in range(sessions):
        tracker.update(ActionExecuted("action_session_start"))
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(f"hello {session}", {"name": "greet", "confidence": 1.0}))
    return tracker


def texts(tracker) -> list[str]:
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


@pytest.mark.parametrize("writer, reader", [(SQLiteTrackerStore, SQLTrackerStore),
                                            (SQLTrackerStore, SQLiteTrackerStore)])
def test_the_same_trackers_as_rasas_own_store(loop, tmp_path, writer, reader):
    db = str(tmp_path / "events.db")
    written = writer(domain=DOMAIN, db=db)
    read = reader(domain=DOMAIN, db=db)
    loop.run_until_complete(written.save(conversation("a", sessions=2)))

    latest = loop.run_until_complete(read.retrieve("a"))
    everything = loop.run_until_complete(read.retrieve_full_tracker("a"))
    assert texts(latest) == ["hello 1"]  # only the latest session
    assert texts(everything) == ["hello 0", "hello 1"]
    assert loop.run_until_complete(read.retrieve("nobody")) is None


def test_saving_twice_stores_each_event_once(loop, tmp_path):
    store = SQLiteTrackerStore(domain=DOMAIN, db=str(tmp_path / "events.db"))
    tracker = conversation("b", sessions=1)
    loop.run_until_complete(store.save(tracker))
    again = loop.run_until_complete(store.retrieve("b"))
    again.update(UserUttered("more", {"name": "greet", "confidence": 1.0}))
    loop.run_until_complete(store.save(again))
    loop.run_until_complete(store.save(again))
    stored = loop.run_until_complete(SQLTrackerStore(domain=DOMAIN, db=str(tmp_path / "events.db"))
                                     .retrieve_full_tracker("b"))
    assert texts(stored) == ["hello 0", "more"]  # nothing stored twice
    # The latest session starts at session_started; the full history also has
    # the action_session_start before it.
    assert len(stored.events) == len(again.events) + 1


def test_a_tracker_store_that_cannot_be_loaded_is_refused(model, loop, tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: bot.no_such_module.Store\n  db: x.db\n")
    with pytest.raises(EngineError, match="could not be loaded"):
        loop.run_until_complete(Engine.load(model, endpoints))


def test_a_tracker_store_that_cannot_save_fails_the_reply_and_logs_no_details(
        model, loop, tmp_path, caplog):
    """A full database: the turn fails (so the fail-safe reply goes out) instead
    of Rasa keeping the conversation in a memory nobody reads back."""
    from tests.conftest import write_endpoints

    engine = loop.run_until_complete(Engine.load(model, write_endpoints(tmp_path)))
    ask = lambda text: loop.run_until_complete(engine.respond("person-x", text))  # noqa: E731
    assert "danger right now" in ask("im worried about my daughter")[0].text

    store = engine._agent.tracker_store._tracker_store
    with store.engine.connect() as connection:  # the one shared connection: the disk is full
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
    caplog.clear()
    with pytest.raises(TrackerStoreFailure):
        ask("no " + "and more words to fill the page " * 200)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == ["The tracker store could not save a conversation (OperationalError)"]
    assert not any(word in caplog.text for word in ("person-x", "deny", "more words"))

    with store.engine.connect() as connection:  # space again: the conversation remembers
        connection.exec_driver_sql("PRAGMA max_page_count = 1073741823")
    assert "When nobody is in immediate danger" in ask("no")[0].text


def test_a_tracker_store_that_cannot_be_reached_at_start_is_refused(model, loop, tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    (tmp_path / "db").mkdir()  # a folder where the database file should be
    endpoints.write_text("tracker_store:\n  type: bot.rasa_plugins.tracker_store.SQLiteTrackerStore\n"
                         "  db: db\n")
    with pytest.raises(EngineError, match="could not be opened"):
        loop.run_until_complete(Engine.load(model, endpoints))


def test_a_database_server_that_is_not_listening_is_refused_at_start(model, loop, tmp_path):
    """Rasa's SQLTrackerStore logs that it could not create its tables and starts
    anyway; the engine's first read finds out before any person does."""
    from tools.local_servers import free_port

    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: SQL\n  dialect: postgresql\n"
                         f"  url: 127.0.0.1\n  port: {free_port()}\n  db: signpost\n"
                         "  username: nobody\n")
    with pytest.raises(EngineError, match="could not be reached"):
        loop.run_until_complete(Engine.load(model, endpoints))


def test_a_locked_database_does_not_stall_the_reply_timeout(model, loop, tmp_path):
    """Another process holds the write lock: SQLite waits up to its busy timeout
    (5 s) for it. That wait happens off the event loop, so a conversation's
    reply timeout (here 0.5 s) still ends its wait on time, and the front end
    can send the fail-safe reply within its bound."""
    from tests.conftest import write_endpoints

    engine = loop.run_until_complete(Engine.load(model, write_endpoints(tmp_path)))
    loop.run_until_complete(engine.respond("person-b", "hello"))
    blocker = sqlite3.connect(tmp_path / "conversations.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the write lock, held by another connection

    async def while_locked() -> float:
        stuck = asyncio.ensure_future(engine.respond("person-a", "hello"))
        await asyncio.sleep(0)  # person-a's turn starts first and waits for the lock
        started = loop.time()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(engine.respond("person-b", "what is the urn"), 0.5)
        waited = loop.time() - started
        blocker.execute("ROLLBACK")
        await asyncio.gather(stuck, return_exceptions=True)
        return waited

    try:
        assert loop.run_until_complete(while_locked()) < 2.5  # far below SQLite's 5 s
    finally:
        blocker.close()
    assert "Thames Valley" in loop.run_until_complete(
        engine.respond("person-b", "what is the urn"))[0].text


def test_an_erased_conversation_leaves_no_text_in_the_database_or_its_journal(
        model, loop, tmp_path):
    from tests.conftest import write_endpoints

    engine = loop.run_until_complete(Engine.load(model, write_endpoints(tmp_path)))
    for text in ("my neighbour zqxjkvmarker shouts", "what is the urn"):
        loop.run_until_complete(engine.respond("person-e", text))
    loop.run_until_complete(engine.respond("person-f", "hello"))  # someone who stays
    files = [tmp_path / "conversations.db", tmp_path / "conversations.db-wal"]
    assert b"zqxjkvmarker" in b"".join(f.read_bytes() for f in files if f.exists())

    loop.run_until_complete(engine.forget("person-e"))
    for f in files:
        if f.exists():
            assert b"zqxjkvmarker" not in f.read_bytes(), f.name
    assert loop.run_until_complete(engine._agent.tracker_store.retrieve("person-e")) is None
    assert loop.run_until_complete(engine._agent.tracker_store.retrieve("person-f")) is not None


def test_a_long_conversation_reads_only_its_recent_turns_and_keeps_following_the_rules(
        model, loop, tmp_path):
    """Late in a long conversation, the rules that depend on the bot's last
    question still work, though a read brings back only the recent turns."""
    from tools.bench import SCRIPTS
    from bot.rasa_plugins.tracker_store import RECENT_TURNS
    from tests.conftest import write_endpoints

    engine = loop.run_until_complete(Engine.load(model, write_endpoints(tmp_path)))
    ask = lambda text: loop.run_until_complete(engine.respond("long", text))  # noqa: E731
    said = [text for script in SCRIPTS for text in script][:40]
    for text in said:
        ask(text)
    assert "danger right now" in ask("im worried about my daughter")[0].text
    assert "When nobody is in immediate danger" in ask("no")[0].text

    store = engine._agent.tracker_store
    recent = loop.run_until_complete(store.retrieve("long"))
    listens = [e for e in recent.events if getattr(e, "action_name", None) == "action_listen"]
    assert len(listens) <= RECENT_TURNS
    everything = loop.run_until_complete(store.retrieve_full_tracker("long"))
    assert texts(everything) == [*said, "im worried about my daughter", "no"]
