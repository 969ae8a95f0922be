"""Answers a 2015 fact only when the message really asked for it.

The intent classifier always picks *some* intent, and with a dozen FAQ
intents, something nobody asked about ("I've swallowed tablets", "I'm on a
bridge") can come out as a fact about school pupils trained or money
invested. A fact must be asked for: its intent needs a higher confidence
than Rasa's general fallback threshold and a clear margin over the runner-up.
Otherwise the message becomes ``nlu_fallback``, whose answer keeps 999 and
101 and offers the main topics. This is Rasa's FallbackClassifier idea,
applied with stricter thresholds to the intents where a wrong guess costs
most.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.faq_importer import INTENT_PREFIX


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class FaqGate(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"threshold": 0.5, "margin": 0.15}

    def __init__(self, config: Dict[str, Any]) -> None:
        self._config = {**self.get_default_config(), **config}

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "FaqGate":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            if not str(intent.get(INTENT_NAME_KEY) or "").startswith(INTENT_PREFIX):
                continue
            ranking = message.get(INTENT_RANKING_KEY) or []
            confidence = float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0)
            runner_up = float(ranking[1][PREDICTED_CONFIDENCE_KEY]) if len(ranking) > 1 else 0.0
            if confidence < self._config["threshold"] or confidence - runner_up < self._config["margin"]:
                message.set(INTENT, {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                                     PREDICTED_CONFIDENCE_KEY: confidence}, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
