"""A tracker store that fails loudly instead of forgetting.

Rasa wraps every tracker store in ``FailSafeTrackerStore``: when a save fails
it writes the conversation to an in-memory store that is never read back, and
when a read fails it starts the conversation afresh. Either way the person's
conversation forgets itself mid-flow while the bot carries on as if nothing
happened, and Rasa's error line quotes the database error, which holds the
conversation id, the intent and pieces of the reply.

:class:`FailLoudTrackerStore` takes its place (the engine swaps it in after
loading). Any failure of the store logs one line with the operation and the
error's type only, and raises :class:`TrackerStoreFailure`, so the engine's
``respond`` fails and the front end sends its fail-safe reply instead.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Optional, Text

from rasa.core.tracker_store import FailSafeTrackerStore, TrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

# A conversation id nobody has: reading it proves the store answers at all.
PROBE_ID = "signpost-startup-check"


class TrackerStoreFailure(RuntimeError):
    """The tracker store could not read or save a conversation (details not kept:
    the database's own message can hold ids and text)."""


class FailLoudTrackerStore(FailSafeTrackerStore):
    """Rasa's wrapper with the fallback replaced by an exception."""

    def __init__(self, tracker_store: TrackerStore) -> None:
        super().__init__(tracker_store, on_tracker_store_error=None)

    @property
    def fallback_tracker_store(self) -> TrackerStore:
        raise TrackerStoreFailure("there is no fallback: a conversation is never kept in memory")

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return await self._guard("read", self._tracker_store.retrieve(sender_id))

    async def retrieve_full_tracker(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        return await self._guard("read", self._tracker_store.retrieve_full_tracker(sender_id))

    async def keys(self) -> Iterable[Text]:
        return await self._guard("list", self._tracker_store.keys())

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self._guard("save", self._tracker_store.save(tracker))

    @staticmethod
    async def _guard(operation: str, work: Any) -> Any:
        try:
            return await work
        except Exception as exc:
            logger.error("The tracker store could not %s a conversation (%s)",
                         operation, type(exc).__name__)
            raise TrackerStoreFailure(f"could not {operation} a conversation "
                                      f"({type(exc).__name__})") from None
