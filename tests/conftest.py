"""Shared fixtures: the real trained model (trained at most once per run) and
an engine on a throwaway SQLite tracker store."""

from __future__ import annotations

import asyncio
import functools
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

import bot  # noqa: F401  (environment defaults before Rasa is imported)
from bot import project


def write_endpoints(folder: Path) -> Path:
    """An endpoints file like the project's, with its own SQLite database."""
    path = folder / "endpoints.yml"
    path.write_text(
        "tracker_store:\n  type: bot.rasa_plugins.tracker_store.SQLiteTrackerStore\n  db: conversations.db\n"
        "lock_store:\n  type: in_memory\n"
    )
    return path


@pytest.fixture(scope="session")
def model() -> Path:
    from bot.training import ensure_model

    return ensure_model().model


@pytest.fixture(scope="session")
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def endpoints(tmp_path_factory) -> Path:
    return write_endpoints(tmp_path_factory.mktemp("tracker"))


@pytest.fixture(scope="session")
def engine(model, endpoints, loop):
    from bot.engine import Engine

    return loop.run_until_complete(Engine.load(model, endpoints))


@pytest.fixture
def ask(engine, loop):
    """ask(conversation, text) -> replies, through the real engine."""

    def ask(conversation: str, text: str):
        return loop.run_until_complete(engine.respond(conversation, text))

    return ask


@pytest.fixture
def new_id():
    return lambda: f"test-{uuid.uuid4().hex}"


def texts(replies) -> str:
    return "\n".join(reply.text for reply in replies)


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the project's content that a test may break."""
    for name in ("config.yml", "domain.yml"):
        shutil.copy(project.ROOT / name, tmp_path / name)
    shutil.copytree(project.DATA, tmp_path / "data")
    return tmp_path


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


# --- "safe first", as bot.safety defines it ----------------------------------------------


@functools.lru_cache(maxsize=1)
def _crisis_answers():
    from tools import evaluate

    return evaluate.crisis_answers()


def _texts_of(replies) -> list[str]:
    return [r if isinstance(r, str) else r.get("text", "") if isinstance(r, dict) else r.text
            for r in replies]


def opens_safely(replies, signal=None) -> bool:
    """Whether ``replies`` (Reply objects, dicts or strings) open as a crisis needs:
    bot.safety's one definition, held to the crisis answers in the project's files."""
    from bot import safety

    return _crisis_answers().opens_safely(signal or safety.Signal.DANGER, _texts_of(replies))


def alarmed(replies) -> bool:
    """Whether ``replies`` open with an emergency script: what a calm message must not get."""
    return _crisis_answers().alarmed(_texts_of(replies))


@pytest.fixture
def safety_off(monkeypatch):
    """The urgency component and the engine's guard switched off, for control tests:
    a check of safety that still passes like this checks nothing.

    The crisis patterns answer nothing (the guard and the component both ask them),
    the urgency classifier scores nothing, and the component no longer reweighs the
    intent classifier's guess. Rasa's graph holds the component's ``process``, not
    what it calls, so patching those is enough for a model already loaded.
    """
    from bot import safety
    from bot.rasa_plugins.urgency import UrgencyClassifier

    monkeypatch.setattr(safety, "assess", lambda text: None)
    monkeypatch.setattr(UrgencyClassifier, "score", lambda self, text: 0.0)
    monkeypatch.setattr(UrgencyClassifier, "_soften", lambda self, message, score: None)
