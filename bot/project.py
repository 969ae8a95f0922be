"""Where the project's files live, so no module guesses paths on its own.

Paths are resolved from the package location (the project is installed in
editable mode), so commands work from any working directory.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.yml"
DOMAIN = ROOT / "domain.yml"
ENDPOINTS = ROOT / "endpoints.yml"
DATA = ROOT / "data"
# Rasa training data folders under data/, split by topic as in Rasa's example bots.
TRAINING_PARTS = ("nlu", "rules", "stories")
MODELS = ROOT / "models"
