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
* in a conversation whose ``language`` slot names a card other than English
  (``bot.rasa_plugins.languages``), puts that card's 999 line above it too,
  whenever the message signalled danger: someone who first wrote in Polish
  and then types "he is here now" still reads 999 in Polish first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import content, languages, project, safety
from bot.rasa_plugins.context import TOPIC
from bot.rasa_plugins.urgency import URGENCY

SAFETY_LINE = "If anyone is in danger right now, call [police_999]."
# Follow-ups ("is it free?") are answered for the conversation's topic.
FOLLOW_UP_RESPONSE = "utter_followup_"
# Answers listing several services; when the person named one, its own entry answers.
LISTS_OF_SERVICES = frozenset({"utter_find_support", "utter_ask_number"})


class SignpostNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 domain: Optional[Domain] = None) -> None:
        super().__init__(domain.responses if domain else {})
        kwargs = endpoint_config.kwargs if endpoint_config else {}
        services = Path(kwargs.get("services") or content.SERVICES_FILE)
        self.services_file = services if services.is_absolute() else project.ROOT / services
        self.directory = content.load_directory(self.services_file, serving=True)
        self._emergency_number = self.directory.services["police_999"].contact
        _, cards = content.load_languages(services=self.services_file)
        self._danger_lines = {c.code: languages.directional(c.text["danger"], c.rtl) for c in cards}

    async def generate(self, utter_action: str, tracker: DialogueStateTracker,
                       output_channel: str, **kwargs: Any) -> Optional[Dict[str, Any]]:
        if utter_action == "utter_ask_number" and tracker.get_slot(TOPIC) and not _named_this_turn(tracker):
            # "whats the number?" right after an answer: the number of what it was about
            # (bot.rasa_plugins.context leaves the topic in place for it).
            utter_action = f"{FOLLOW_UP_RESPONSE}contact"
        if utter_action.startswith(FOLLOW_UP_RESPONSE):
            topic = tracker.get_slot(TOPIC)
        else:  # "what is Stop It Now?", "number for Shout": that service, not the whole list
            topic = _named_this_turn(tracker) if utter_action in LISTS_OF_SERVICES else None
        if topic in self.directory.services:
            response: Optional[Dict[str, Any]] = {
                "text": service_card(self.directory.services[topic], utter_action)}
        else:
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
        line = self._in_their_language(line, utter_action, tracker)
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

    def _in_their_language(self, line: str, utter_action: str,
                           tracker: DialogueStateTracker) -> str:
        """The 999 line in the conversation's card language, above the English one, on danger."""
        own = self._danger_lines.get(str(tracker.get_slot("language")))
        if own is None or utter_action.startswith("utter_language_card") \
                or not _first_response_of_turn(tracker):
            return line
        level = ((tracker.latest_message.parse_data if tracker.latest_message else {})
                 .get(URGENCY) or {}).get("level")
        if level not in (safety.DANGER, safety.RISK):
            return line
        return f"{own}\n{line}" if line else own


def service_card(service: content.Service, utter_action: str) -> str:
    """A follow-up about a service the person named, answered from its directory entry.

    "Is it free?", "are they open now?", "is there an age limit?" after
    "what does Victim Support do?": who it is for, its hours and how to reach
    it are exactly what the directory holds and has checked, so the card
    answers any of them, and cannot say what the directory does not.
    """
    key = service.id
    card = [f"[{key}.name]: [{key}]"]
    if service.web and service.contact != service.web:
        card.append(f"Online: [{key}.web]")
    card.append(f"Who it's for: [{key}.for]")
    if service.hours:
        card.append(f"When: [{key}.hours]")
    danger = "If anyone is in danger right now, call [police_999]."
    if utter_action == f"{FOLLOW_UP_RESPONSE}emergency":
        return f"{danger}\n\n" + "\n".join(card)
    return "\n".join(card) + f"\n\n{danger}"


def _named_this_turn(tracker: DialogueStateTracker) -> Optional[str]:
    """The topic the latest message itself set (a named service's id, or an intent)."""
    entities = (tracker.latest_message.entities if tracker.latest_message else None) or []
    return next((e.get("value") for e in entities if e.get("entity") == TOPIC), None)


def _first_response_of_turn(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return True
        if isinstance(event, BotUttered):
            return False
    return True
