"""Rasa's logistic-regression intent classifier, with its regularisation exposed.

Rasa's LogisticRegressionClassifier fixes scikit-learn's ``C`` at 1. That
suited raw counts, whose large values need little weight; with the counts
scaled to unit length beside the sentence encoder's unit vector
(bot.rasa_plugins.sentence_encoder), ``C=1`` holds every weight so small
that no intent is ever confident, and the fallback answers everything.
Everything else, training, prediction and the safe skops file, is Rasa's.
"""

from __future__ import annotations

from typing import Any, Dict, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class IntentClassifier(LogisticRegressionClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 10.0}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage,
                 resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.C = float(self.config["C"])
