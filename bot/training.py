"""Train the Rasa model, but only when what it is trained from has changed.

The model's file name carries a fingerprint of its inputs (config, domain,
training data, the code of our own pipeline components and the Rasa version).
If a model with the current fingerprint exists, training is skipped; otherwise
Rasa trains a new one. Training writes to a temporary name first, so a crash
or a failed training never leaves a half-written model that looks current, and
never touches the model that is already there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot import content, logs, project

logger = logging.getLogger(__name__)

MODEL_PREFIX = "signpost-"
MODEL_SUFFIX = ".tar.gz"
# Older models are pruned; a few are kept so a bad edit can be rolled back.
MODELS_KEPT = 3


class TrainingError(RuntimeError):
    """Rasa could not train a model from the project's data."""


@dataclass(frozen=True)
class TrainResult:
    model: Path
    trained: bool
    seconds: float


def training_inputs(root: Path = project.ROOT) -> list[Path]:
    """Every file whose content changes what the trained model does."""
    files = [root / "config.yml", root / "domain.yml"]
    files += sorted(p for p in (root / "data").rglob("*") if p.is_file())
    # Our code that shapes what is trained (the code that runs, wherever the data is).
    package = Path(__file__).resolve().parent
    plugins = package / "rasa_plugins"
    files += [plugins / f"{name}.py" for name in ("urgency", "faq_gate", "long_messages", "faq_importer",
                                                  "sentence_encoder", "intent_classifier", "context",
                                                  "languages")]
    files += [package / "content.py", package / "safety.py", package / "languages.py"]
    return files


def fingerprint(root: Path = project.ROOT) -> str:
    """A hash of the training inputs and the Rasa version."""
    import rasa

    digest = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for path in training_inputs(root):
        name = path.relative_to(root) if path.is_relative_to(root) else path.relative_to(project.ROOT)
        digest.update(name.as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_for(fp: str, models: Path = project.MODELS) -> Path:
    return models / f"{MODEL_PREFIX}{fp[:16]}{MODEL_SUFFIX}"


def ensure_model(force: bool = False, root: Path = project.ROOT) -> TrainResult:
    """Return the model for the project at ``root``, training it first if needed.

    The content is checked before anything is trained: a failed check raises
    :class:`TrainingError` and leaves the models folder as it was.
    """
    target = model_for(fingerprint(root), root / "models")
    if target.exists() and not force:
        logger.info("Model is up to date: %s", target)
        return TrainResult(target, trained=False, seconds=0.0)

    problems = content.check(root)
    if problems:
        raise TrainingError(
            "The content has problems, so nothing was trained and the current model is "
            "unchanged:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    started = time.perf_counter()
    _train_into(target, root)
    seconds = time.perf_counter() - started
    _prune_old_models(keep=target)
    return TrainResult(target, trained=True, seconds=seconds)


def _train_into(target: Path, root: Path) -> None:
    from rasa.model_training import train

    logs.ensure_rasa_quiet()
    # Rasa's cache of trained components, kept with the project being trained.
    os.environ["RASA_CACHE_DIRECTORY"] = str(root / ".rasa" / "cache")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".training-") as tmp:
        result = train(
            domain=str(root / "domain.yml"),
            config=str(root / "config.yml"),
            training_files=[str(root / "data" / part) for part in project.TRAINING_PARTS],
            output=tmp,
            fixed_model_name=target.name[: -len(MODEL_SUFFIX)],
            # Rasa still trains, but reuses cached components whose inputs are
            # unchanged, so editing one answer does not retrain the classifier.
            force_training=False,
        )
        produced = Path(result.model) if result.model else None
        if result.code != 0 or produced is None or not produced.exists():
            raise TrainingError(
                f"Rasa could not train a model (exit code {result.code}); "
                "see the messages above. The previous model is unchanged."
            )
        os.replace(produced, target)


def _prune_old_models(keep: Path) -> None:
    """Delete all but the newest MODELS_KEPT models (always keeping ``keep``)."""
    others = sorted(
        (m for m in keep.parent.glob(f"{MODEL_PREFIX}*{MODEL_SUFFIX}") if m != keep),
        key=os.path.getmtime,
    )
    for old in others[: max(len(others) - (MODELS_KEPT - 1), 0)]:
        logger.info("Removing old model %s", old.name)
        old.unlink(missing_ok=True)
