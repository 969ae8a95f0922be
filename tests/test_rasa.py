"""Rasa's own tests on the real model: conversation stories and held-out NLU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from bot import content, project

HERE = Path(__file__).parent
RASA = [sys.executable, "-m", "rasa"]
MACRO_F1_TARGET = 0.90


def run(args: list[str], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(RASA + args + ["--out", str(out)], capture_output=True, text=True,
                          cwd=project.ROOT, timeout=900)


def test_conversation_stories_pass(model, tmp_path):
    done = run(["test", "core", "--model", str(model), "--stories",
                str(HERE / "test_stories.yml"), "--fail-on-prediction-errors"], tmp_path)
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, details


def test_intent_macro_f1_on_held_out_examples(model, tmp_path):
    done = run(["test", "nlu", "--model", str(model), "--nlu", str(HERE / "nlu_holdout.yml")],
               tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "intent_report.json").read_text())
    macro_f1 = report["macro avg"]["f1-score"]
    weak = {k: round(v["f1-score"], 2) for k, v in report.items()
            if isinstance(v, dict) and v.get("f1-score", 1) < 0.8 and "avg" not in k}
    assert macro_f1 >= MACRO_F1_TARGET, f"macro-F1 {macro_f1:.3f}; weakest intents: {weak}"


def _examples(document: dict) -> dict[str, set[str]]:
    return {item["intent"]: {line[2:].strip().lower() for line in item["examples"].splitlines()
                             if line.startswith("- ")}
            for item in document.get("nlu", [])}


def test_held_out_examples_are_not_training_examples():
    training: set[str] = set()
    for path in (project.DATA / "nlu").glob("*.yml"):
        for examples in _examples(yaml.safe_load(path.read_text())).values():
            training |= examples
    training |= {e.lower() for entry in content.load_faq() for e in entry.examples}
    held_out = _examples(yaml.safe_load((HERE / "nlu_holdout.yml").read_text()))
    overlap = {x for examples in held_out.values() for x in examples} & training
    assert overlap == set()


def test_every_intent_is_held_out_and_has_15_training_examples():
    domain = yaml.safe_load(project.DOMAIN.read_text())
    intents = set(domain["intents"]) | {f"faq_{e.id}" for e in content.load_faq()}
    held_out = _examples(yaml.safe_load((HERE / "nlu_holdout.yml").read_text()))
    assert intents == set(held_out)
    for path in (project.DATA / "nlu").glob("*.yml"):
        for intent, examples in _examples(yaml.safe_load(path.read_text())).items():
            assert len(examples) >= 15, intent
