"""`make evaluate` fails on every requirement its summary reports, and only on those.

The measurements are stubbed (the real ones take minutes and live in
test_rasa.py, test_safety.py and test_understanding.py); what is tested here
is the exit code that CI and people read.
"""

from __future__ import annotations

import pytest

from tools import evaluate


def run(monkeypatch, tmp_path, *, blind_ok=True, macro_f1=0.9, missed=(), false_alarms=0,
        stories_pass=True) -> int:
    async def load(model, endpoints):
        return object()

    async def blind(engine, half):
        return evaluate.BlindReport(half, [], 0, 0, 0, 0, 0, 0)

    async def crisis(engine):
        return evaluate.CrisisReport(10, list(missed), 20, ["ordinary"] * false_alarms)

    monkeypatch.setattr("bot.engine.Engine.load", load)
    monkeypatch.setattr(evaluate.BlindReport, "ok", property(lambda report: blind_ok))
    monkeypatch.setattr(evaluate, "blind_report", blind)
    monkeypatch.setattr(evaluate, "crisis_report", crisis)
    monkeypatch.setattr(evaluate, "nlu_report", lambda model, out: evaluate.NluReport(
        macro_f1, macro_f1, 10, {}, [], out / "matrix.png"))
    monkeypatch.setattr(evaluate, "story_report", lambda model, out: evaluate.StoryReport(
        stories_pass, 3, ""))
    return evaluate.main(tmp_path / "model.tar.gz", tmp_path / "out")


def test_every_requirement_met_exits_0(monkeypatch, tmp_path):
    # 1 false alarm in 20 is exactly the 5% limit.
    assert run(monkeypatch, tmp_path, false_alarms=1) == 0


@pytest.mark.parametrize("broken", [
    dict(blind_ok=False),
    dict(macro_f1=evaluate.MACRO_F1_TARGET - 0.01),
    dict(missed=["help"]),
    dict(false_alarms=2),  # 10%, over the 5% limit
    dict(stories_pass=False),
], ids=["locked-half", "macro-f1", "crisis-recall", "false-alarms", "stories"])
def test_any_requirement_missed_exits_1(monkeypatch, tmp_path, broken):
    assert run(monkeypatch, tmp_path, **broken) == 1
