"""Signpost: a safeguarding signposting chatbot built on Rasa.

The environment defaults below must be in place before Rasa or TensorFlow is
first imported, which is why they live in the package's ``__init__``: every
entry point (CLI, tests, benchmarks) imports ``bot`` first.
"""

import os

# Nothing may phone home: there is no internet, and we collect nothing.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
# TensorFlow is imported by Rasa even though our pipeline uses no TF model;
# keep its C++ start-up chatter out of the terminal.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Our pipeline runs no TensorFlow model. Rasa's own command line, which
# `make bench` (the stock-Rasa baseline: DIET, TED) and `make evaluate` start,
# reads these: one thread per operation, as thread hand-off costs more than the
# maths on short texts, and the second core stays free.
os.environ.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")
os.environ.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
# Rasa 3.6 uses SQLAlchemy 1.4's legacy API and warns about it on every start.
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
