"""Puts the deterministic safety layer inside Rasa's NLU pipeline.

It runs after the statistical classifiers (and after the fallback
classifier), reads the message with :func:`bot.safety.assess`, and when the
message signals danger now or self-harm it sets the intent to ``emergency``
or ``self_harm`` with full confidence, whatever the classifier predicted.
The dialogue rules then answer with 999 first. Intents whose own answers
already lead with 999 (a disclosure of abuse, self-harm) are left alone.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.safety import Signal, assess

# The intent each signal routes to, and the intents already safe for it.
ROUTES = {
    Signal.SELF_HARM: ("self_harm", {"self_harm"}),
    Signal.DANGER: ("emergency", {"emergency", "self_harm", "disclose_abuse"}),
}


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class SafetyOverride(GraphComponent):
    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SafetyOverride":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            signal = assess(message.get(TEXT) or "")
            if signal is None:
                continue
            intent, already_safe = ROUTES[signal]
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if predicted not in already_safe:
                message.set(
                    INTENT,
                    {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0},
                    add_to_output=True,
                )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
