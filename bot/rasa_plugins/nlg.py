"""Rasa's response generator for Signpost: numbers filled in, 999 first when needed.

Configured under ``nlg`` in ``endpoints.yml``, so it runs wherever Rasa
answers: the engine, ``rasa shell``, ``rasa test``. It does two things to
every response on its way out:

* fills in service placeholders such as ``[childline]`` from the service
  directory, the one place numbers live;
* puts 999 first when the message signalled danger (the ``urgency``
  decision of ``bot.rasa_plugins.urgency``), on the first response of the
  turn only. The answer itself is kept: safety adds, it never displaces.
  After danger, or a weaker risk signal, a response that does not open
  safely (``bot.safety.opens_safely``: 999 in its first paragraph) gets a
  999 line on top. (When there is nothing else to answer, the urgency component
  has already chosen the emergency script itself.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import content, project, safety
from bot.rasa_plugins.urgency import URGENCY

SAFETY_LINE = "If anyone is in danger right now, call [police_999]."


class SignpostNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 domain: Optional[Domain] = None) -> None:
        super().__init__(domain.responses if domain else {})
        kwargs = endpoint_config.kwargs if endpoint_config else {}
        services = Path(kwargs.get("services") or content.SERVICES_FILE)
        self.services_file = services if services.is_absolute() else project.ROOT / services
        self.directory = content.load_directory(self.services_file, serving=True)
        self._emergency_number = self.directory.services["police_999"].contact

    async def generate(self, utter_action: str, tracker: DialogueStateTracker,
                       output_channel: str, **kwargs: Any) -> Optional[Dict[str, Any]]:
        response = await super().generate(utter_action, tracker, output_channel, **kwargs)
        if response is None:
            return None
        response = dict(response)
        render = self.directory.render
        if response.get("text"):
            response["text"] = render(response["text"])
        if response.get("buttons"):
            response["buttons"] = [{**b, "title": render(str(b.get("title", "")))}
                                   for b in response["buttons"]]
        line = self._safety_line(utter_action, tracker, response.get("text") or "")
        if line:
            response["text"] = f"{render(line)}\n\n{response.get('text') or ''}".strip()
        return response

    def _safety_line(self, utter_action: str, tracker: DialogueStateTracker, text: str) -> str:
        if utter_action in safety.CRISIS_RESPONSES or not _first_response_of_turn(tracker):
            return ""
        level = ((tracker.latest_message.parse_data if tracker.latest_message else {})
                 .get(URGENCY) or {}).get("level")
        if level in (safety.DANGER, safety.RISK) and not safety.opens_safely(
                safety.Signal.DANGER, [text], self._emergency_number):
            return SAFETY_LINE
        return ""


def _first_response_of_turn(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return True
        if isinstance(event, BotUttered):
            return False
    return True
