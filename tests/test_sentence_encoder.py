"""The sentence encoder: the pinned model, its tokenizer, and what its vectors mean.

The weights come from a small upload, so these tests hold them to what was
checked when they were chosen: the model file's sha256, vectors for fixed
sentences (stored when the model was checked against an independent fp32
forward pass), and meaning that survives rewording.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from bot.rasa_plugins import sentence_encoder
from bot.rasa_plugins.sentence_encoder import EncoderError, SentenceEncoder, shared_encoder

REFERENCE = Path(__file__).parent / "support" / "encoder_reference.json"


def test_vectors_for_fixed_sentences_match_the_stored_ones():
    reference = json.loads(REFERENCE.read_text())
    vectors = shared_encoder().encode(reference["sentences"])
    stored = np.array(reference["vectors"], dtype=np.float32)
    assert vectors.shape == stored.shape == (len(reference["sentences"]), 384)
    cosines = (vectors * stored).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_rewording_keeps_meaning_that_shared_words_would_miss():
    encode = shared_encoder().encode
    anchor, paraphrase, shares_words = encode([
        "my stepdad comes into my room at night and touches me",
        "mums boyfriend sneaks in my bedroom when everyone is asleep",
        "my stepdad comes into the room at night to say goodnight and touches the light",
    ])
    unrelated = encode(["what did the serious case review find about social services"])[0]
    assert anchor @ paraphrase > anchor @ unrelated + 0.2
    assert anchor @ paraphrase > 0.4 and shares_words @ unrelated < 0.3


def test_a_batch_gives_what_single_calls_give():
    encoder = shared_encoder()
    texts = ["help", "how do i report a worry about my niece without giving my name " * 3]
    together = encoder.encode_many(texts)
    apart = np.vstack([encoder._run([t]) for t in texts])
    assert np.allclose(together, apart, atol=1e-5)


def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(EncoderError, match="sha256"):
        SentenceEncoder(fake)


def test_a_missing_model_says_how_to_get_it(tmp_path):
    with pytest.raises(EncoderError, match="make install"):
        SentenceEncoder(tmp_path / "absent.onnx")


def test_the_tokenizer_ships_in_the_package():
    assert sentence_encoder.TOKENIZER_FILE.is_file()
    assert (sentence_encoder.TOKENIZER_FILE.parent / "LICENSE").is_file()
