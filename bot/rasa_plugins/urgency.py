"""Decides, inside Rasa's NLU pipeline, whether a message signals danger now.

Two decisions are kept apart, because they call for different answers:

* **danger**: a crisis pattern matched, or the statistical classifier
  is confident, that someone may be in danger now. If the intent classifier
  agrees, the answer is the emergency script (or, for self-harm, the
  self-harm answers). If the predicted intent has nothing else worth
  answering (a fact, small talk), the answer is that to a worry, which gives
  999 and 101 at once. If the person also asked something real (how to stay
  anonymous, what number a deaf person uses), the intent is kept and the
  answer gets a 999 line on top (``bot.rasa_plugins.nlg``). Safety adds; it does not
  take the answer away.
* **risk**: a weaker signal. The intent is kept and the first reply is made
  to carry 999. The intent classifier's own guess of ``emergency`` counts only
  as a risk: without the urgency decision it becomes a worry, whose answer
  gives 999 and 101 at once and asks whether anyone is in danger now.

Two signals feed them: the high-precision patterns of :mod:`bot.safety`, and
a statistical classifier trained here on every intent example (the
``emergency`` and ``self_harm_now`` examples are urgent, every other example
is not, near misses included). It scores each clause of the message and the
message as a whole and keeps the highest, so an urgent sentence buried in
300 words still counts.

The classifier hashes word and character n-grams rather than keeping a
vocabulary, so what it stores is arrays of weights: nothing is unpickled
when a model is loaded. The message as a whole is also read by meaning:
a second model adds the sentence encoder's vector (the one the featurizer
already computed, so it costs nothing more), which catches danger put in
ordinary words ("mum's boyfriend comes in my room at night"). Clauses are
scored by n-grams alone, so a 300-word message costs no more encoder time.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from bot import safety
from bot.rasa_plugins import sources_fingerprint
from bot.rasa_plugins.long_messages import FULL_TEXT
from bot.rasa_plugins.sentence_encoder import DIMENSIONS, shared_encoder

URGENCY = "urgency"  # the key under which the decision appears in Rasa's parse data
URGENT_INTENTS = frozenset({"emergency", "self_harm_now"})
SELF_HARM_INTENTS = frozenset({"self_harm", "self_harm_now"})
# Answers worth keeping when there is danger: 999 goes on top of them. Any
# other intent (a 2015 fact, small talk, a general worry) gives way to the
# emergency script, which already says how to report when nobody is in danger.
KEEP_INTENTS = frozenset({
    "emergency", "self_harm", "self_harm_now", "disclose_abuse", "report_anonymously",
    "confidentiality", "access_deaf", "cannot_speak", "find_support", "ask_human",
    "bot_challenge", "fear_consequences", "self_blame", "older_boyfriend", "online_images",
    "boys_victims", "outside_area", "ask_number", "after_reporting", "report_concern", "ask_signs",
    "sextortion", "image_removal", "professional_concern", "trafficking", "abroad", "interpreter",
    "threats_family", "ask_bot_to_act", "own_thoughts", "domestic_abuse", "believed",
    "statement_court", "age_of_consent", "what_is_grooming", "followup_emergency",
})
# Answers that name the specialised help for one situation. With danger, one
# of these that the classifier weighs at SPECIFIC_CONFIDENCE or more is given,
# with 999 on top, rather than the general emergency or worry answer.
SPECIFIC_INTENTS = frozenset({
    "sextortion", "image_removal", "professional_concern", "trafficking", "abroad", "interpreter",
    "threats_family", "ask_bot_to_act", "own_thoughts", "domestic_abuse", "cannot_speak",
    "access_deaf", "online_images", "older_boyfriend",
})
SPECIFIC_CONFIDENCE = 0.2
# Below this, a self-harm guess without self-harm words is not trusted.
SELF_HARM_CONFIDENCE = 0.5
# What a message that is not an emergency may be answered with instead of the
# emergency script or a 2015 fact.
# A message the classifier cannot place ("out_of_scope") gets the fallback,
# which keeps 999 and 101.
WORRY_ANSWERS = (KEEP_INTENTS - URGENT_INTENTS) | {"worried_about_child", "out_of_scope"}
_WEIGHTS_FILE = "urgency.npz"
# The classifier never reads more than this many clauses of one message.
MAX_CLAUSES = 200


def _vectorizers() -> tuple[HashingVectorizer, HashingVectorizer]:
    common = dict(n_features=2**18, alternate_sign=False, norm="l2", lowercase=False)
    return (HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common))


def _meaning(examples: List[Message], encoder: Any) -> np.ndarray:
    """The encoder's unit vectors of training examples: the featurizer's, where it added them."""
    rows = []
    for message in examples:
        dense = message.get_dense_features(TEXT)[1]
        vector = None if dense is None else np.asarray(dense.features, dtype=np.float32).ravel()
        if vector is None or vector.shape[0] != DIMENSIONS or not vector.any():
            vector = encoder.encode([message.get(TEXT)])[0]
        rows.append(vector / np.linalg.norm(vector))
    return np.vstack(rows)


def _features(texts: list[str]) -> scipy.sparse.csr_matrix:
    words, chars = _vectorizers()
    return scipy.sparse.hstack([words.transform(texts), chars.transform(texts)]).tocsr()


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True
)
class UrgencyClassifier(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            # At or above: a risk signal (999 is made to lead the first reply).
            "risk_threshold": 0.35,
            # At or above: no 2015 fact; the answer to a worry instead.
            "fact_risk_threshold": 0.6,
            # At or above: an emergency, as if a crisis pattern had matched.
            "emergency_threshold": 0.95,
            # Inverse regularisation strength of the logistic regression.
            "C": 4.0,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str:
        """Retrain when the patterns or normalisation change, not only this class.

        Rasa fingerprints a component by its own source; what it trains on also
        depends on bot/safety.py.
        """
        return sources_fingerprint(safety.__file__, __file__)

    def __init__(self, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 weights: Optional[Dict[str, np.ndarray]] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        # "clause_*": n-grams alone, for each clause; "whole_*": n-grams and meaning.
        self._weights = weights or {}
        self._encoder = shared_encoder()

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UrgencyClassifier":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "UrgencyClassifier":
        with model_storage.read_from(resource) as folder:
            saved = np.load(folder / _WEIGHTS_FILE, allow_pickle=False)
            return cls(config, model_storage, resource, {k: saved[k] for k in saved.files})

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        labels = np.array([m.get(INTENT) in URGENT_INTENTS for m in examples])
        if labels.all() or not labels.any():
            raise ValueError("The urgency classifier needs examples of the 'emergency' intent "
                             "and of other intents.")
        grams = _features([safety.normalise(m.get(TEXT)) for m in examples])
        meaning = _meaning(examples, self._encoder)
        weights: Dict[str, np.ndarray] = {}
        for name, features in (("clause", grams),
                               ("whole", scipy.sparse.hstack([grams, meaning]).tocsr())):
            model = LogisticRegression(C=self._config["C"], class_weight="balanced", max_iter=2000)
            model.fit(features, labels)
            weights[f"{name}_weights"] = model.coef_[0].astype(np.float32)
            weights[f"{name}_bias"] = np.array(model.intercept_[0])
        self._weights = weights
        with self._storage.write_to(self._resource) as folder:
            np.savez_compressed(folder / _WEIGHTS_FILE, **weights)
        return self._resource

    def score(self, text: str) -> float:
        """The highest urgency of the message as a whole and of any one clause (0 to 1).

        The whole message's encoder vector is the one the featurizer computed,
        from the encoder's cache.
        """
        w = self._weights
        normal = safety.normalise(text)
        clauses = [c for c in dict.fromkeys(safety.clauses(normal)[:MAX_CLAUSES]) if c != normal]
        whole = scipy.sparse.hstack([_features([normal]),
                                     self._encoder.encode([text])]).tocsr()
        logits = [float((whole @ w["whole_weights"])[0] + w["whole_bias"])]
        if clauses:
            logits.append(float((_features(clauses) @ w["clause_weights"]).max() + w["clause_bias"]))
        return float(1 / (1 + np.exp(-max(logits))))

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(FULL_TEXT) or message.get(TEXT) or ""
            signal = safety.assess(text)
            score = self.score(text) if text.strip() else 0.0
            level = None
            confident = score >= self._config["emergency_threshold"] and not safety.says_safe_now(text)
            if signal is not None or confident:
                level = safety.DANGER
                self._route(message, signal, score)
            else:
                if score >= self._config["risk_threshold"]:
                    level = safety.RISK
                self._soften(message, score)
            message.set(URGENCY, {"level": level, "score": round(score, 3),
                                  "pattern": signal.value if signal else None},
                        add_to_output=True)
        return messages

    def _route(self, message: Message, signal: Optional[safety.Signal], score: float) -> None:
        """Send an emergency to the crisis answers unless the intent is worth keeping.

        The emergency script itself needs the intent classifier to agree that
        this is an emergency; where it does not, the person gets the answer to
        a worry with 999 on top, which gives 999 first without a false alarm.
        """
        predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        specific = self._specific_alternative(message)
        if signal is not safety.Signal.SELF_HARM and specific and predicted not in SPECIFIC_INTENTS:
            # Danger in a message about trafficking, blackmail with images, a
            # professional's duty...: that answer names the help for it, and
            # gets 999 on top (bot.rasa_plugins.nlg). Safety adds.
            intent = specific
        elif predicted in KEEP_INTENTS and not (signal is safety.Signal.SELF_HARM
                                                and predicted not in SELF_HARM_INTENTS):
            return
        elif signal is safety.Signal.SELF_HARM or predicted in SELF_HARM_INTENTS:
            strong = predicted == "self_harm_now" or score >= self._config["emergency_threshold"]
            intent = "self_harm_now" if strong else "self_harm"
        else:
            # The signal and the classifier disagree: the answer to a worry, with
            # 999 on top (bot.rasa_plugins.nlg), rather than the emergency script.
            intent = "worried_about_child"
        message.set(INTENT, {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0},
                    add_to_output=True)
        ranking = message.get(INTENT_RANKING_KEY)
        if ranking:
            message.set(INTENT_RANKING_KEY,
                        [{INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}] + ranking,
                        add_to_output=True)

    @staticmethod
    def _specific_alternative(message: Message) -> Optional[str]:
        """A specialised answer the classifier gives real weight to, if any."""
        for rank in (message.get(INTENT_RANKING_KEY) or [])[:3]:
            if (rank[INTENT_NAME_KEY] in SPECIFIC_INTENTS
                    and rank[PREDICTED_CONFIDENCE_KEY] >= SPECIFIC_CONFIDENCE):
                return rank[INTENT_NAME_KEY]
        return None

    def _soften(self, message: Message, score: float) -> None:
        """Below an emergency, the intent classifier's guess is weighed against the risk.

        Worries and emergencies share their words (older men, cars, flats):
        without a crisis pattern or a confident urgency score, the classifier's
        ``emergency`` gives way to the next likely answer worth giving, or to
        the answer to a worry, which gives 999 and 101 at once and asks
        whether anyone is in danger now. A message with a real risk signal is
        not answered with a 2015 fact, nor, when not understood, with anything
        but the fallback, whose first line is 999.
        """
        intent = message.get(INTENT) or {}
        name = str(intent.get(INTENT_NAME_KEY))
        if name == DEFAULT_NLU_FALLBACK_INTENT_NAME and score >= self._config["risk_threshold"]:
            # Not understood, with a risk signal: the plain fallback, whose first
            # line is 999, never a reply that depends on what came before.
            message.set(INTENT, {INTENT_NAME_KEY: "out_of_scope", PREDICTED_CONFIDENCE_KEY: score},
                        add_to_output=True)
            return
        if name in SELF_HARM_INTENTS and float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0) < SELF_HARM_CONFIDENCE:
            # No self-harm words and a hesitant classifier ("our DSL is off sick"):
            # the self-harm answer would be a wrong and hurtful guess. The next
            # answer worth giving, or the plain fallback; either keeps 999 first
            # when there is a risk signal (bot.rasa_plugins.nlg).
            ranking = message.get(INTENT_RANKING_KEY) or []
            alternatives = [r for r in ranking if r[INTENT_NAME_KEY] in WORRY_ANSWERS | SPECIFIC_INTENTS
                            and r[INTENT_NAME_KEY] not in SELF_HARM_INTENTS
                            and r[PREDICTED_CONFIDENCE_KEY] >= 0.15]
            chosen = alternatives[0] if alternatives else {INTENT_NAME_KEY: "out_of_scope",
                                                           PREDICTED_CONFIDENCE_KEY: score}
            message.set(INTENT, dict(chosen), add_to_output=True)
            return
        if name == "self_harm_now":
            # Without a crisis pattern or a confident score, a likely "now" keeps the
            # crisis answer and anything else gets the self-harm answer, which gives
            # 999 and Samaritans more gently; neither drops 999.
            likely = score >= self._config["fact_risk_threshold"]
            message.set(INTENT, {INTENT_NAME_KEY: "self_harm_now" if likely else "self_harm",
                                 PREDICTED_CONFIDENCE_KEY: score}, add_to_output=True)
            return
        risky_fact = name.startswith("faq_") and score >= self._config["fact_risk_threshold"]
        if name != "emergency" and not risky_fact:
            return
        ranking = message.get(INTENT_RANKING_KEY) or []
        alternatives = [r for r in ranking[1:] if r[INTENT_NAME_KEY] in WORRY_ANSWERS
                        and r[PREDICTED_CONFIDENCE_KEY] >= 0.1]
        chosen = alternatives[0] if alternatives else {
            INTENT_NAME_KEY: "worried_about_child",
            PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY, 0.0)}
        message.set(INTENT, dict(chosen), add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
