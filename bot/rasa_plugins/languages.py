"""The language card inside Rasa: spotting another language, and the card's responses.

Two plug-ins, both named in config.yml:

* :class:`LanguageDetector`, the last component of the NLU pipeline. A
  message in another language (``bot.languages.detect``) becomes the intent
  ``choose_language`` with a ``language`` entity, whatever the classifiers
  made of it: the words were never going to be understood, and the card
  gives 999 first in that language. The entity fills the ``language`` slot
  (domain.yml), so the conversation remembers it: later English messages
  that signal danger get the 999 line in that language too
  (``bot.rasa_plugins.nlg``). A short English request naming a language
  ("Polish please") is read the same way; a request for another language
  without one gets the list of languages.
* :class:`LanguageImporter`, which turns ``data/languages.yml`` into the
  responses ``utter_language_card`` and ``utter_choose_language``: one
  variation per language, chosen by the slot (Rasa's conditional response
  variations), so staff edit one file and the check (``make faq-check``)
  sees the same text the bot sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.constants import (
    ENTITIES, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import content, languages
from bot.rasa_plugins import sources_fingerprint
from bot.rasa_plugins.long_messages import FULL_TEXT

SLOT = ENTITY = "language"
CHOOSE_INTENT = "choose_language"  # a language chosen (button, or a message written in it)
OFFER_INTENT = "language"  # /language: the list of languages
CARD_RESPONSE = "utter_language_card"
OFFER_RESPONSE = "utter_choose_language"
RESPONSES = frozenset({CARD_RESPONSE, OFFER_RESPONSE})

# Languages named in English (or in their own words) in a short request.
_NAMED = {
    "polish": "pl", "polski": "pl", "romanian": "ro", "romana": "ro", "română": "ro",
    "urdu": "ur", "portuguese": "pt", "português": "pt", "portugues": "pt",
    "spanish": "es", "español": "es", "espanol": "es", "arabic": "ar", "bengali": "bn",
    "bangla": "bn", "welsh": "cy", "cymraeg": "cy", "ukrainian": "uk",
}
# Named, but written in two scripts: the person chooses.
_AMBIGUOUS = frozenset({"punjabi", "panjabi"})
_SHORT_REQUEST_WORDS = 5
# What else a short request naming a language may say ("in Polish please"),
# so that "nail polish" stays English.
_REQUEST_WORDS = frozenset("in please pls plz speak language my i can you do write talk".split())


def choose_payload(code: str) -> str:
    return f"/{CHOOSE_INTENT}{json.dumps({ENTITY: code})}"


def _in_response(payload: str) -> str:
    """A payload as written in a response: Rasa fills in {slot} in responses, and
    {{ }} is how to keep the braces of the entities."""
    return payload.replace("{", "{{").replace("}", "}}")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class LanguageDetector(GraphComponent):
    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str:
        """The detection rules live in bot/languages.py, not in this class."""
        return sources_fingerprint(languages.__file__, __file__)

    def __init__(self, identify: languages.Identify) -> None:
        self._identify = identify

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LanguageDetector":
        return cls(languages.identifier())

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(FULL_TEXT) or message.get(TEXT) or ""
            if text.startswith("/"):  # a button's payload: Rasa reads it as it is
                continue
            code = languages.detect(text, self._identify)
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if code == languages.ENGLISH:
                code = self._named(text) or languages.ENGLISH
            if code not in (languages.ENGLISH, OFFER_INTENT):
                self._choose(message, CHOOSE_INTENT)
                entity = {"entity": ENTITY, "value": code, "start": 0, "end": len(text),
                          "confidence": 1.0, "extractor": type(self).__name__}
                message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
            elif predicted == CHOOSE_INTENT or code == OFFER_INTENT:
                self._choose(message, OFFER_INTENT)
        return messages

    @staticmethod
    def _named(text: str) -> Optional[str]:
        """A language named in a short request ("Urdu please"); the classifier's own guess
        of a request does not count, as "nail polish" shows."""
        tokens = languages.words(text)
        if len(tokens) > _SHORT_REQUEST_WORDS or not all(
                t in _NAMED or t in _AMBIGUOUS or t in _REQUEST_WORDS for t in tokens):
            return None
        for token in tokens:
            if token in _NAMED:
                return _NAMED[token]
            if token in _AMBIGUOUS:
                return OFFER_INTENT
        return None

    @staticmethod
    def _choose(message: Message, intent: str) -> None:
        chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
        message.set(INTENT, chosen, add_to_output=True)
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r[INTENT_NAME_KEY] != intent]
        message.set(INTENT_RANKING_KEY, [chosen, *ranking], add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


# --- the card's responses -----------------------------------------------------

ENGLISH_CHOSEN = ("We'll carry on in English. If anyone is in danger right now, call "
                  "[police_999]. Tell me what's worrying you, or choose a topic.")
OFFER_TEXT = ("Choose your language. In each, you get 999, 101 and how to ask for an "
              "interpreter on the phone. The chat itself continues in English.")
CHOOSE_ANOTHER = {"title": "Choose a language", "payload": f"/{OFFER_INTENT}"}


def language_responses(cards: list[content.LanguageCard],
                       english: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """``utter_language_card`` and ``utter_choose_language``, one variation per language."""
    def when(code: str) -> list[dict[str, str]]:
        return [{"type": "slot", "name": SLOT, "value": code}]

    to_english = {"title": english["continue_button"],
                  "payload": _in_response(choose_payload(languages.ENGLISH))}
    offer = [{"title": _button_title(c), "payload": _in_response(choose_payload(c.code))}
             for c in cards]
    offer.append(to_english)
    card = [{"condition": when(c.code),
             "text": languages.card_text(c.text, c.rtl),
             "buttons": [{"title": c.text["continue_button"],
                          "payload": to_english["payload"]}]} for c in cards]
    card.append({"text": ENGLISH_CHOSEN, "buttons": [CHOOSE_ANOTHER]})
    choose = [{"condition": when(c.code),
               "text": languages.directional(f"{c.text['choose_prompt']}", c.rtl) + f"\n\n{OFFER_TEXT}",
               "buttons": offer} for c in cards]
    choose.append({"text": OFFER_TEXT, "buttons": offer})
    return {CARD_RESPONSE: card, OFFER_RESPONSE: choose}


def _button_title(card: content.LanguageCard) -> str:
    """The language's own name, then its English one (kept left to right beside Arabic script)."""
    english = card.english_name
    if card.rtl:
        english = f"{languages.LTR_ISOLATE}{english}{languages.POP_ISOLATE}"
    return f"{card.name} · {english}"


class LanguageImporter(TrainingDataImporter):
    def __init__(
        self,
        config_file: Optional[Text] = None,
        domain_path: Optional[Text] = None,
        training_data_paths: Optional[List[Text]] = None,
        languages_file: Text = "data/languages.yml",
        services_file: Text = "data/services.yml",
    ) -> None:
        # Paths in config.yml are relative to it, not to the working directory.
        base = Path(config_file).resolve().parent if config_file else content.LANGUAGES_FILE.parent.parent
        self._languages_file = base / languages_file
        self._services_file = base / services_file
        self._domain: Domain | None = None

    def get_domain(self) -> Domain:
        if self._domain is None:
            english, cards = content.load_languages(self._languages_file, self._services_file)
            self._domain = Domain.from_dict({"responses": language_responses(cards, english)})
        return self._domain

    def get_nlu_data(self, language: Optional[Text] = "en") -> TrainingData:
        return TrainingData()

    def get_stories(self, exclusion_percentage: Optional[int] = None) -> StoryGraph:
        return StoryGraph([])

    def get_conversation_tests(self) -> StoryGraph:
        return StoryGraph([])

    def get_config(self) -> Dict[Text, Any]:
        return {}

    def get_config_file_for_auto_config(self) -> Optional[Text]:
        return None
