"""Rasa's own tests on the real model: conversation stories and held-out NLU."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot import content, project
from tools import evaluate

HERE = Path(__file__).parent


def test_conversation_stories_pass(model, tmp_path):
    report = evaluate.story_report(model, tmp_path)
    assert report.passed, report.failed_stories
    assert report.stories >= 20


def test_intent_macro_f1_on_held_out_examples(model, tmp_path):
    report = evaluate.nlu_report(model, tmp_path)
    weak = {k: round(v["f1-score"], 2) for k, v in report.per_intent.items() if v["f1-score"] < 0.8}
    assert report.macro_f1 >= evaluate.MACRO_F1_TARGET, f"macro-F1 {report.macro_f1:.3f}; weakest: {weak}"
    assert report.confusion_matrix.exists()


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
