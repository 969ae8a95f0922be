"""Lets the question a person actually asks decide the answer to a long message.

People ramble: 200 words about a daughter, the men, the car, the school, and
then "who should I call?". A bag-of-n-grams classifier reading all of it
guesses from the story; the question at the end is what needs an answer.
For a message longer than ``min_words``, this component, first in the
pipeline, hands the classifiers only the sentences that ask something
(ending in "?", or opening like a question), if there are any. The whole
message is kept under ``FULL_TEXT`` and the urgency classifier reads all of
it, sentence by sentence, so danger anywhere in it still counts. Training
examples are left as they are.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

FULL_TEXT = "signpost_full_text"
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_ASKS = re.compile(
    r"^\s*(?:who|what|whats|what's|where|when|how|should|can|could|would|will|do|does|is|are|am"
    r"|any ?one know|any ?body know|please tell|tell me|i need to know|i want to know)\b", re.I)


def question_sentences(text: str) -> list[str]:
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    return [s for s in sentences if s.endswith("?") or _ASKS.match(s)]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class QuestionFocus(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"min_words": 50}

    def __init__(self, config: Dict[str, Any]) -> None:
        self._min_words = {**self.get_default_config(), **config}["min_words"]

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "QuestionFocus":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if len(text.split()) < self._min_words:
                continue
            asked = question_sentences(text)
            if asked:
                message.set(FULL_TEXT, text)
                message.set(TEXT, " ".join(asked[-2:]))
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
