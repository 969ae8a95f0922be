"""Our code inside Rasa, each named in config.yml or endpoints.yml: pipeline
components (urgency, faq_gate, long_messages), the FAQ importer, the NLG that
fills in phone numbers, and the tracker and lock stores."""
