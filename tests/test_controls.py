"""Controls: the safety checks, run with safety switched off, must fail.

A check that still passes with the urgency component and the engine's guard
off does not check safety. Before these controls, with safety off, the crisis
set still had 999 in the first reply for 81/81 (nearly every answer mentions
999 somewhere; 60/81 open with it), and the locked half held its floor. Each
control runs the very function its check uses.
"""

from __future__ import annotations

import pytest

from bot import safety
from tools import evaluate
from conftest import opens_safely
from test_understanding import locked_half_holds


# What each crisis message needs, read while the patterns are still on.
NEEDS = {message: evaluate.crisis_signal(message) for message in evaluate.phrases("crisis.txt")}


def test_the_crisis_checks_fail_with_safety_switched_off(ask, new_id, safety_off):
    safe = [m for m, signal in NEEDS.items() if opens_safely(ask(new_id(), m), signal)]
    assert len(safe) < len(NEEDS), "the crisis set passed with safety off: it checks nothing"


def _urgent(case) -> bool:
    """A case with a turn that must open with 999: chosen by its expectations, not read."""
    return any(x.strip() == "999" for turn in case.turns for x in turn.first_says)


@pytest.mark.parametrize("half", evaluate.LOCKED_HALVES)
def test_the_locked_half_floors_fail_with_safety_switched_off(half, engine, loop, safety_off):
    report = loop.run_until_complete(evaluate.blind_report(engine, half, only=_urgent))
    assert report.urgent_turns and not locked_half_holds(report), (
        "the locked half held its floors with safety off: it checks nothing")


@pytest.mark.slow
@pytest.mark.parametrize("half", evaluate.LOCKED_HALVES)
def test_each_locked_half_floor_fails_on_its_own_with_safety_switched_off(half, engine, loop, safety_off):
    """The whole half (the everyday control runs its urgent cases only): the safety
    floor fails on its own, and so do the floors together.

    The pass rate alone is not a safety floor: with the sentence encoder, the
    intent classifier routes most emergencies by itself, so switching the urgency
    component and the guard off can leave the pass rate where it was while
    urgent turns lose 999. The floor that guards safety is "every urgent turn
    opens safely"."""
    report = loop.run_until_complete(evaluate.blind_report(engine, half))
    assert report.urgent_missed > 0, "every urgent turn opened safely with safety off"
    assert not locked_half_holds(report)


def test_the_switch_is_off_only_inside_the_controls(ask, new_id):
    assert safety.assess("he is hurting me right now") is safety.Signal.DANGER
    assert opens_safely(ask(new_id(), "he is hurting me right now"))
