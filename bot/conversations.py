"""Conversations written as files, with what each reply must and must not say.

The same format serves the blind evaluation sets (tests/evaluation/) and
testers' transcripts (tests/conversations/, run by bot.transcripts). A file is
a YAML list of cases, each named by ``conversation:`` (a tester's words) or
``id:`` (the evaluation's codes):

    - id: W1-001                  # or: conversation: worried about a niece
      category: urgent            # optional; the evaluation groups by it
      turns:
        - user: he wont let me leave the flat
          first_says: ["999"]     # each must appear in the first reply message
          says: ["101"]           # each must appear in the replies to this turn
          never_says: ["Source:"] # none may appear in the replies to this turn
          in_language: pl         # the first reply gives 999 in this card's language
                                  # (a code in data/languages.yml); "en": no reply
                                  # is in another language

Matching ignores case. A value written ``/like this/`` is a regular
expression. Button titles count as part of the replies. Each case runs as a
fresh conversation through the real engine.

Plain YAML values are read as the text written: ``user: no`` is the word
"no", not false, and ``says: [0800]`` keeps its leading zero. A key that is
not part of the format (a typo such as ``say:``) is an error rather than an
expectation silently skipped.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPECTATIONS = ("first_says", "says", "never_says")
CASE_KEYS = frozenset({"id", "conversation", "category", "voice", "turns"})
TURN_KEYS = frozenset({"user", "in_language", *EXPECTATIONS})
ENGLISH = "en"
# Marks that lay out right-to-left text; invisible, so not part of what a reply says.
_BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


class CaseFileError(ValueError):
    """A conversation file cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class Turn:
    user: str
    first_says: tuple[str, ...] = ()
    says: tuple[str, ...] = ()
    never_says: tuple[str, ...] = ()
    in_language: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    turns: tuple[Turn, ...]


@dataclass
class TurnResult:
    turn: Turn
    replies: list[str]
    failures: list[str] = field(default_factory=list)
    # The engine's replies as sent (text and buttons apart), for showing to people.
    sent: list[Any] = field(default_factory=list)


@dataclass
class CaseResult:
    case: Case
    turns: list[TurnResult]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not any(t.failures for t in self.turns)


class _TextLoader(yaml.SafeLoader):
    """YAML as written: plain values stay text (only empty values and ``~`` are nothing)."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers
            if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path: Path) -> list[Case]:
    """The cases in one file, or a CaseFileError that says what is wrong and where."""
    try:
        document = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_TextLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CaseFileError(f"{path}: cannot be read as YAML: {exc}") from None
    if not isinstance(document, list) or not document:
        raise CaseFileError(f"{path}: should be a list of cases, each starting with "
                            "'- conversation:' (or '- id:')")
    cases, seen = [], set()
    for number, item in enumerate(document, 1):
        where = f"{path}, case {number}"
        if not isinstance(item, dict) or not isinstance(item.get("turns"), list) or not item["turns"]:
            raise CaseFileError(f"{where}: needs 'turns', a list of at least one turn")
        case_id = str(item.get("id") or item.get("conversation") or number)
        where = f"{where} ('{case_id}')"
        _known_keys(item, CASE_KEYS, where)
        if case_id in seen:
            raise CaseFileError(f"{where}: the name '{case_id}' is used twice")
        seen.add(case_id)
        turns = tuple(_turn(turn, f"{where}, turn {n}") for n, turn in enumerate(item["turns"], 1))
        cases.append(Case(case_id, str(item.get("category") or ""), turns))
    return cases


def _known_keys(item: dict, allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise CaseFileError(f"{where}: '{unknown[0]}' is not part of the format; "
                            f"use {', '.join(sorted(allowed))}")


def _turn(item: Any, where: str) -> Turn:
    if not isinstance(item, dict) or not isinstance(item.get("user"), str) or not item["user"].strip():
        raise CaseFileError(f"{where}: needs 'user', the message as the person types it")
    _known_keys(item, TURN_KEYS, where)
    values = {}
    for key in EXPECTATIONS:
        value = item.get(key) or []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            raise CaseFileError(f"{where}: '{key}' should be a list of texts")
        for text in map(str, value):
            if _is_regex(text):
                try:
                    re.compile(text[1:-1])
                except re.error as exc:
                    raise CaseFileError(f"{where}: '{text}' is not a valid pattern: {exc}") from None
        values[key] = tuple(map(str, value))
    language = item.get("in_language")
    if language is not None:
        known = danger_lines()
        if language != ENGLISH and language not in known:
            raise CaseFileError(f"{where}: 'in_language' should be {ENGLISH} or a language code "
                                f"in data/languages.yml ({', '.join(known)})")
    return Turn(item["user"], **values, in_language=language)


@functools.lru_cache(maxsize=1)
def danger_lines() -> dict[str, tuple[str, ...]]:
    """Each card language's 999 sentence, as the pieces of text between its placeholders."""
    from bot import content

    _, cards = content.load_languages()
    return {card.code: tuple(piece.strip() for piece in content.PLACEHOLDER.split(card.text["danger"])[::3]
                             if len(piece.strip()) > 2)
            for card in cards}


def in_language(text: str, code: str) -> bool:
    """Whether ``text`` gives the 999 line of the card in language ``code``."""
    shown = text.translate(_BIDI_MARKS)
    return all(piece in shown for piece in danger_lines()[code])


def language_failures(code: str, replies: list[str]) -> list[str]:
    if code == ENGLISH:
        return [f"the replies should be in English, but they give the 999 line in '{other}'"
                for other in danger_lines() if any(in_language(r, other) for r in replies)]
    if not replies or not in_language(replies[0], code):
        return [f"the first reply should give 999 in the '{code}' card's language"]
    return []


def _is_regex(value: str) -> bool:
    return len(value) > 2 and value.startswith("/") and value.endswith("/")


def contains(text: str, expected: str) -> bool:
    if _is_regex(expected):
        return re.search(expected[1:-1], text, re.IGNORECASE) is not None
    return expected.lower() in text.lower()


def reply_text(reply: Any) -> str:
    """What the person reads in one reply: its text and its button titles."""
    return "\n".join([reply.text] + [button.title for button in reply.buttons])


async def run(engine: Any, case: Case) -> CaseResult:
    """Play one case through the engine as a fresh conversation and check every turn."""
    conversation = f"case-{uuid.uuid4().hex}"
    started = time.perf_counter()
    results = []
    for turn in case.turns:
        sent = await engine.respond(conversation, turn.user)
        replies = [reply_text(r) for r in sent]
        results.append(TurnResult(turn, replies, check(turn, replies), sent))
    return CaseResult(case, results, time.perf_counter() - started)


def check(turn: Turn, replies: list[str]) -> list[str]:
    """What the replies to one turn got wrong, in words a tester can act on."""
    everything = "\n".join(replies)
    first = replies[0] if replies else ""
    # Quoted as the tester wrote them (no escaping), so a pattern reads as in the file.
    failures = [f'the first reply should say "{x}"' for x in turn.first_says if not contains(first, x)]
    failures += [f'the replies should say "{x}"' for x in turn.says if not contains(everything, x)]
    failures += [f'the replies should not say "{x}"' for x in turn.never_says if contains(everything, x)]
    if turn.in_language:
        failures += language_failures(turn.in_language, replies)
    return failures
