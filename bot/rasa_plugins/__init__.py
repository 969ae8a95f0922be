"""Our code inside Rasa, each named in config.yml or endpoints.yml: pipeline
components (long_messages, sentence_encoder, intent_classifier, faq_gate,
urgency, languages, context), the FAQ and language importers, the NLG that
fills in phone numbers, and the tracker and lock stores."""


def sources_fingerprint(*files: str) -> str:
    """A hash of source files, for a component's ``fingerprint_addon``.

    Rasa fingerprints a component by its class alone; components whose
    behaviour also lives in other files (bot/safety.py) name them here so a
    change there retrains them.
    """
    import hashlib
    from pathlib import Path

    return hashlib.sha256(b"".join(Path(f).read_bytes() for f in files)).hexdigest()
