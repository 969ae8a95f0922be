"""The one dialogue engine: a conversation id and a text in, replies out.

Every front end (terminal chat, the batch ``converse`` command, the Telegram
adapter, the benchmarks) talks to :class:`Engine` and nothing else, so only
this module knows that Rasa is underneath. The engine loads a trained model
once with Rasa's own ``load_agent`` and the stores named in ``endpoints.yml``;
Rasa keeps each conversation's state apart by its id.

Inside Rasa, ``bot.rasa_plugins.urgency`` decides whether a message signals
danger and ``bot.rasa_plugins.nlg`` fills in the numbers and puts 999 first. The engine
keeps one guard of its own: the model reads only the first
``MAX_TEXT_CHARS`` of a message, so if the crisis patterns see danger
anywhere in the whole text and the first reply does not give 999, the
emergency answer is put first.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.agent import load_agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.utils.endpoints import EndpointConfig
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.exceptions import RasaException
from sqlalchemy import func

from bot import content, logs, project, safety
from bot.rasa_plugins.store_guard import PROBE_ID, FailLoudTrackerStore
from bot.rasa_plugins.nlg import SignpostNLG
from bot.rasa_plugins.urgency import SELF_HARM_INTENTS, URGENCY

logger = logging.getLogger(__name__)

# Long messages are read in full by nothing that benefits from it: the
# classifier gains no accuracy past a few paragraphs, and costs grow with length.
MAX_TEXT_CHARS = 2000


class EngineError(RuntimeError):
    """The engine could not be started (for example, the model is unusable)."""


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by ``converse`` (``buttons`` only when present)."""
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        return out


class Engine:
    """A loaded Rasa model with its tracker and lock stores."""

    def __init__(self, agent: Any, model: Path, nlg_endpoint: EndpointConfig) -> None:
        self._agent = agent
        self._nlg_endpoint = nlg_endpoint
        self.model = Path(model)
        self._learn_domain()

    def _learn_domain(self) -> None:
        """What the engine takes from the model's domain and directory (again after a reload)."""
        self.directory = self._agent.nlg.directory
        self._emergency_number = self.directory.services["police_999"].contact
        # Payloads may name our own intents only; Rasa's built-in ones such as
        # /restart would silently wipe the conversation and answer nothing.
        self._payload_intents = frozenset(self._agent.domain.intents) - set(DEFAULT_INTENTS)
        self.crisis = safety.CrisisAnswers.build(self._emergency_number, self._response_text)

    async def reload(self, model: Path) -> None:
        """Swap in a newly trained model without stopping.

        The new model is loaded on a worker thread while the current one keeps
        answering, and is swapped in only once loading has worked, so a model
        that fails to load raises here and leaves the old one serving.
        Conversations and stores are untouched.

        The service directory is read again with it, by a new NLG that only the
        new processor uses: ``data/services.yml`` is a training input, so an
        edited number goes live with a newly trained model, not only on a
        restart, and a message is never answered with the new responses but
        the old numbers. A directory with a changed essential number refuses
        the swap.
        """
        try:
            nlg = SignpostNLG(self._nlg_endpoint)
        except content.ContentError as exc:
            raise EngineError(f"The service directory has problems:\n{exc}") from None
        # Rasa's load_model puts the new processor in place before it gives the new NLG
        # its responses, so a message answered in between would get no text at all.
        # It loads into a copy of the agent instead, swapped in whole once loaded.
        staged = copy.copy(self._agent)
        staged.nlg = nlg  # Rasa hands it to the new processor
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, staged.load_model, str(model))
        vars(self._agent).update(vars(staged))  # on the loop: no message sees half a swap
        self.model = Path(model)
        self._learn_domain()

    @classmethod
    async def load(
        cls,
        model: Path,
        endpoints: Path = project.ENDPOINTS,
        services: Path = content.SERVICES_FILE,
    ) -> Engine:
        """Load ``model`` once, with the stores configured in ``endpoints``."""
        logs.ensure_rasa_quiet()
        if not Path(model).is_file():
            raise EngineError(f"No trained model at {model}; run 'make train'.")
        try:
            content.load_directory(services, serving=True)
            content.load_languages(services=services)  # the card's 999 lines, for the NLG
        except content.ContentError as exc:
            raise EngineError(f"The service directory has problems:\n{exc}") from None
        available = AvailableEndpoints.read_endpoints(str(endpoints))
        if available.nlg is None:  # safety depends on it: 999 goes first through bot.rasa_plugins.nlg
            available.nlg = EndpointConfig(type="bot.rasa_plugins.nlg.SignpostNLG", services=str(services))
        try:
            _anchor_sqlite_path(available.tracker_store, Path(endpoints).resolve().parent)
            agent = await load_agent(model_path=str(model), endpoints=available)
        except (OSError, RasaException) as exc:  # the stores could not be created
            raise EngineError(f"The stores in the endpoints file could not be opened "
                              f"({type(exc).__name__}).") from None
        if not agent.is_ready():
            raise EngineError(f"The model at {model} could not be loaded.")
        if not isinstance(agent.nlg, SignpostNLG):
            raise EngineError("The endpoints file must name bot.rasa_plugins.nlg.SignpostNLG under 'nlg': it "
                              "fills in the phone numbers and puts 999 first.")
        _check_store(agent, available.tracker_store)
        await _fail_loudly(agent)
        return cls(agent, Path(model), available.nlg)

    async def respond(self, conversation_id: str, text: str) -> list[Reply]:
        """Answer one message (typed text or a button payload) in a conversation."""
        # Rasa's work is all CPU, with no real waits, so nothing else would run until
        # it finished: yielding once first lets messages from other conversations
        # that arrived meanwhile take their turn, so they interleave fairly.
        await asyncio.sleep(0)
        collector = _WholeMessages()
        await self._agent.handle_message(
            UserMessage(self._prepare(text), collector, sender_id=conversation_id)
        )
        replies = [self._reply(m) for m in collector.messages if m.get("text")]
        # The whole message is read, even past the length the model sees.
        signal = safety.assess(text)
        if signal and not self.crisis.opens_safely(signal, [r.text for r in replies]):
            logger.warning("Safety guard put the %s answer first", signal.value)
            replies.insert(0, Reply(self.crisis.answer_to(signal)))
        return replies

    async def crisis_reply(self, text: str) -> Reply | None:
        """The crisis answer ``text`` needs on its own, if any; no conversation records it.

        For words a person sends that do not go through the dialogue (after a
        known command, in an edit, in a group chat): they get the same
        assessment as a message, the crisis patterns and the urgency classifier.
        """
        signal = safety.assess(text)
        if signal is None and text.strip():
            parsed = await self._agent.parse_message(self._prepare(text))
            if (parsed.get(URGENCY) or {}).get("level") == safety.DANGER:
                intent = (parsed.get("intent") or {}).get("name")
                signal = (safety.Signal.SELF_HARM if intent in SELF_HARM_INTENTS
                          else safety.Signal.DANGER)
        return Reply(self.crisis.answer_to(signal)) if signal else None

    async def forget(self, conversation_id: str) -> None:
        """Erase everything stored about one conversation (the person asked us to)."""
        await self._erase(lambda store: [conversation_id])

    async def forget_inactive(self, older_than_seconds: float) -> int:
        """Erase conversations nobody has written in for ``older_than_seconds``.

        Returns how many were erased. This is how long conversations are kept.
        """
        cutoff = time.time() - older_than_seconds

        def stale(store: Any) -> list[str]:
            if isinstance(store, SQLTrackerStore):
                event = store.SQLEvent
                with store.session_scope() as session:
                    rows = (session.query(event.sender_id).group_by(event.sender_id)
                            .having(func.max(event.timestamp) < cutoff).all())
                return [sender for (sender,) in rows]
            return [sender for sender, serialised in store.store.items()
                    if _last_timestamp(serialised) < cutoff]

        return len(await self._erase(stale))

    async def _erase(self, choose: Any) -> list[str]:
        """Delete the conversations ``choose(store)`` picks from the tracker store."""
        store = _innermost(self._agent.tracker_store)
        if hasattr(store, "erase"):  # ours: off the event loop, and nothing left in the journal
            return await store.erase(choose)
        if not isinstance(store, (SQLTrackerStore, InMemoryTrackerStore)):
            raise EngineError(f"Erasing conversations is not supported for {type(store).__name__}")
        senders = choose(store)
        if isinstance(store, SQLTrackerStore):
            with store.session_scope() as session:
                session.query(store.SQLEvent).filter(
                    store.SQLEvent.sender_id.in_(senders)
                ).delete(synchronize_session=False)
                session.commit()
        else:
            for sender in senders:
                store.store.pop(sender, None)
        return senders

    @staticmethod
    def _reply(message: dict[str, Any]) -> Reply:
        """Rasa's message as a Reply; bot.rasa_plugins.nlg has already filled in the numbers."""
        buttons = tuple(Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
                        for b in message.get("buttons") or [])
        return Reply(text=message["text"], buttons=buttons)

    def _response_text(self, name: str) -> str:
        return self.directory.render(
            content.default_variation(self._agent.domain.responses[name])["text"])

    def _prepare(self, text: str) -> str:
        """Make user text safe for Rasa without changing what it means.

        Control characters are dropped, length is capped, and a leading ``/`` is
        kept only for our own button payloads (``/intent``): Rasa would read any
        other ``/word`` as an instruction, so an unknown command is read as text.
        """
        cleaned = "".join(
            ch if ch in "\n\t" or unicodedata.category(ch)[0] != "C" else " " for ch in text
        ).strip()[:MAX_TEXT_CHARS]
        match = _PAYLOAD.match(cleaned)
        if cleaned.startswith("/") and not (match and match.group(1) in self._payload_intents):
            cleaned = cleaned.lstrip("/").strip()
        return cleaned


# Rasa's payload syntax: "/intent" optionally followed by entities as JSON.
_PAYLOAD = re.compile(r"^/([A-Za-z0-9_]+)(\{.*\})?$", re.DOTALL)


class _WholeMessages(CollectingOutputChannel):
    """Collects each response as one message.

    Rasa's own collector splits a response at every blank line; we keep the
    paragraphs of one response together so an answer arrives as one message.
    """

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


def _innermost(store: Any) -> Any:
    while hasattr(store, "_tracker_store"):  # Rasa wraps the store it was configured with
        store = store._tracker_store
    return store


def _check_store(agent: Any, configured: Any) -> None:
    """Refuse to run on a store other than the one configured.

    If a tracker store class named in endpoints.yml cannot be imported, Rasa
    quietly uses an in-memory store instead, and conversations would be lost
    at the next restart.
    """
    wanted = str(getattr(configured, "type", "") or "")
    if "." not in wanted:
        return
    actual = type(_innermost(agent.tracker_store))
    if f"{actual.__module__}.{actual.__qualname__}" != wanted:
        raise EngineError(f"The tracker store '{wanted}' in the endpoints file could not be "
                          f"loaded (Rasa fell back to {actual.__name__}).")


async def _fail_loudly(agent: Any) -> None:
    """Put the fail-loud wrapper in place of Rasa's fail-safe one, and probe the store.

    Rasa starts even when its tracker store cannot be reached (it logs the
    error and carries on), so the first conversation would be the one to find
    out. One read of a conversation nobody has proves the store answers.
    """
    agent.tracker_store = FailLoudTrackerStore(agent.tracker_store._tracker_store)
    agent.processor.tracker_store = agent.tracker_store  # load_model reuses agent's
    try:
        await agent.tracker_store._tracker_store.retrieve(PROBE_ID)
    except Exception as exc:  # the database's message may hold ids: the type only
        raise EngineError(f"The tracker store could not be reached "
                          f"({type(exc).__name__}).") from None


def _last_timestamp(serialised_tracker: str) -> float:
    events = json.loads(serialised_tracker).get("events") or [{}]
    return float(events[-1].get("timestamp") or 0)


def _anchor_sqlite_path(tracker_store: Any, base: Path) -> None:
    """Resolve a relative SQLite path against the endpoints file, and create its folder.

    Rasa would resolve it against the working directory, so the same bot run
    from two places would keep two separate memories.
    """
    if tracker_store is None or "db" not in tracker_store.kwargs:
        return
    if tracker_store.kwargs.get("dialect", "sqlite") != "sqlite":
        return
    db = Path(tracker_store.kwargs.get("db") or "rasa.db")
    if not db.is_absolute():
        db = base / db
    db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # conversations are private
    tracker_store.kwargs["db"] = str(db)
