"""Answers a 2015 fact only when the message really asked for it.

The intent classifier always picks *some* intent, and with a dozen FAQ
intents, something nobody asked about ("I've swallowed tablets", "I'm on a
bridge", "blah blah blah") can come out as a fact about school pupils
trained, money invested or who is to blame. A fact must be asked for, so an
FAQ intent must pass three tests:

* a higher confidence than Rasa's general fallback threshold;
* a clear margin over the runner-up;
* at least one word of the message that the intent's own training examples
  use (stop words aside). The classifier also reads character n-grams, which
  help with typos but let "blah" look like "blame"; a whole shared word is
  evidence that the person is talking about the same thing.

Otherwise the message becomes ``nlu_fallback``, whose answer keeps 999 and
101 and offers the main topics. This is Rasa's FallbackClassifier idea,
applied with stricter tests to the intents where a wrong guess costs most.
A hesitant guess of small talk (hello, goodbye, thanks) needs a shared word
too, since nonsense resembles it.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import safety
from bot.rasa_plugins import sources_fingerprint
from bot.rasa_plugins.faq_importer import INTENT_PREFIX

_VOCABULARY_FILE = "faq_vocabulary.json"
# Small talk that gibberish resembles ("blah blah blah", "bye bye"): below
# SMALL_TALK_SURE, these too need a word their own examples use.
SMALL_TALK = frozenset({"greet", "goodbye", "thanks"})
SMALL_TALK_SURE = 0.6
# Words too common to count as evidence of what a question is about.
STOP_WORDS = frozenset("""
a about after all also am an and any are as at be been before being but by can could did do does
for from get got had has have he her him his how i if in into is it its just like me more my no
not now of on or our out really she so some than that the their them then there they this to too
up us was we were what when where which who why will with would you your
""".split())


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9£]+", safety.normalise(text))
            if w not in STOP_WORDS and len(w) > 1}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class FaqGate(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"threshold": 0.5, "margin": 0.15}

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str:
        """Retrain when the word rules change: they live in this file and in bot/safety.py,
        and Rasa fingerprints a component by its class alone."""
        return sources_fingerprint(safety.__file__, __file__)

    def __init__(self, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 vocabulary: Dict[str, set[str]] | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary or {}

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FaqGate":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "FaqGate":
        with model_storage.read_from(resource) as folder:
            saved = json.loads((folder / _VOCABULARY_FILE).read_text())
        return cls(config, model_storage, resource, {k: set(v) for k, v in saved.items()})

    def train(self, training_data: TrainingData) -> Resource:
        vocabulary: Dict[str, set[str]] = {}
        for example in training_data.intent_examples:
            intent = str(example.get(INTENT) or "")
            if intent.startswith(INTENT_PREFIX) or intent in SMALL_TALK:
                vocabulary.setdefault(intent, set()).update(content_words(example.get(TEXT) or ""))
        self._vocabulary = vocabulary
        with self._storage.write_to(self._resource) as folder:
            (folder / _VOCABULARY_FILE).write_text(
                json.dumps({k: sorted(v) for k, v in vocabulary.items()}))
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            name = str(intent.get(INTENT_NAME_KEY) or "")
            confidence = float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0)
            if name in SMALL_TALK:
                # "blah blah blah" is not goodbye: a hesitant small-talk guess needs a word of it.
                if confidence < SMALL_TALK_SURE and not (
                        content_words(message.get(TEXT) or "") & self._vocabulary.get(name, set())):
                    message.set(INTENT, {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                                         PREDICTED_CONFIDENCE_KEY: confidence}, add_to_output=True)
                continue
            if not name.startswith(INTENT_PREFIX):
                continue
            ranking = message.get(INTENT_RANKING_KEY) or []
            runner_up = float(ranking[1][PREDICTED_CONFIDENCE_KEY]) if len(ranking) > 1 else 0.0
            shares_a_word = bool(content_words(message.get(TEXT) or "") & self._vocabulary.get(name, set()))
            if (confidence < self._config["threshold"] or confidence - runner_up < self._config["margin"]
                    or not shares_a_word):
                message.set(INTENT, {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                                     PREDICTED_CONFIDENCE_KEY: confidence}, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
