"""Feeds the staff FAQ file (data/faq.yml) to Rasa.

Staff edit one human-friendly file. Rasa needs, for each entry, an intent
with examples, a response, and a rule joining them. This importer, listed
under ``importers`` in config.yml, produces all three, so ``rasa train``,
``rasa data validate`` and our own training see the same FAQ.

A message the bot cannot place, right after an FAQ answer, is most often a
follow-up on it ("since when?"), so each entry also gets a rule answering
that with the statement's own words.

Each entry becomes its own intent (``faq_<id>``) for the fast logistic-
regression classifier. Rasa's retrieval intents would need its
TensorFlow ResponseSelector, which on this bot cost about 4 ms a message,
240 MB of memory, 7 s of model loading and 25 s of training (measured
2026-11-21; see the README).

The conversion goes through Rasa's own YAML readers rather than building
Rasa objects by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import content

INTENT_PREFIX = "faq_"
# A follow-up the bot cannot place, right after an FAQ answer, gets that
# answer's quotes from the statement (see content.faq_quote_text).
FOLLOW_UP_SUFFIX = "_quote"
TOPIC_BUTTONS = [
    {"title": "I'm worried about a child", "payload": "/worried_about_child"},
    {"title": "It happened to me", "payload": "/disclose_abuse"},
    {"title": "Find support", "payload": "/find_support"},
]


def intent_name(entry_id: str) -> str:
    return f"{INTENT_PREFIX}{entry_id}"


def faq_as_rasa(faq_file: Path, sources_file: Path) -> dict[str, Any]:
    """The FAQ as Rasa training data: ``nlu``, ``rules`` and ``domain`` parts."""
    entries = content.load_faq(faq_file, sources_file)
    sources = content.load_sources(sources_file)
    intents = [intent_name(e.id) for e in entries]
    return {
        "nlu": [
            {"intent": intent, "examples": "".join(f"- {x}\n" for x in e.examples)}
            for intent, e in zip(intents, entries, strict=True)
        ],
        "rules": [
            rule
            for intent, e in zip(intents, entries, strict=True)
            for rule in (
                {"rule": f"FAQ: {e.question}",
                 "steps": [{"intent": intent}, {"action": f"utter_{intent}"}]},
                {"rule": f"FAQ follow-up: {e.question}",
                 "steps": [{"action": f"utter_{intent}"}, {"intent": "nlu_fallback"},
                           {"action": f"utter_{intent}{FOLLOW_UP_SUFFIX}"}]},
            )
        ],
        "domain": {
            "intents": intents,
            "responses": {
                name: [response]
                for intent, e in zip(intents, entries, strict=True)
                for name, response in (
                    (f"utter_{intent}", {"text": content.faq_response_text(e, sources)}),
                    (f"utter_{intent}{FOLLOW_UP_SUFFIX}",
                     {"text": content.faq_quote_text(e, sources), "buttons": TOPIC_BUTTONS}),
                )
            },
        },
    }


class FaqImporter(TrainingDataImporter):
    def __init__(
        self,
        config_file: Optional[Text] = None,
        domain_path: Optional[Text] = None,
        training_data_paths: Optional[List[Text]] = None,
        faq_file: Text = "data/faq.yml",
        sources_file: Text = "data/sources/sources.yml",
    ) -> None:
        # Paths in config.yml are relative to it, not to the working directory.
        base = Path(config_file).resolve().parent if config_file else content.FAQ_FILE.parent.parent
        self._faq_file = base / faq_file
        self._sources_file = base / sources_file
        self._cached: dict[str, Any] | None = None

    def _faq(self) -> dict[str, Any]:
        if self._cached is None:
            self._cached = faq_as_rasa(self._faq_file, self._sources_file)
        return self._cached

    def get_domain(self) -> Domain:
        return Domain.from_dict(self._faq()["domain"])

    def get_nlu_data(self, language: Optional[Text] = "en") -> TrainingData:
        document = {"version": "3.1", "nlu": self._faq()["nlu"]}
        return RasaYAMLReader().reads(yaml.safe_dump(document, allow_unicode=True, width=1000))

    def get_stories(self, exclusion_percentage: Optional[int] = None) -> StoryGraph:
        reader = YAMLStoryReader(self.get_domain())
        return StoryGraph(reader.read_from_parsed_yaml({"rules": self._faq()["rules"]}))

    def get_conversation_tests(self) -> StoryGraph:
        return StoryGraph([])

    def get_config(self) -> Dict[Text, Any]:
        return {}

    def get_config_file_for_auto_config(self) -> Optional[Text]:
        return None
