"""How well the language rules do with each identifier, on our own short messages.

Used to choose the language-identification library (bot/languages.py):
``python -m tools.language_choice``. It runs the rules of ``bot.languages``
with no identifier, with py3langid (installed with the project) and, if it is
installed, with lingua-language-detector (``pip install
lingua-language-detector``; about 96 MB, not a project dependency), on
tests/languages/measure.yml and on every English turn of the blind set.
It prints per-language hits, English taken for another language, and the
time per message; the blind multilingual halves are left to the tests.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, Optional

import yaml

from bot import languages, project

OWN_SET = project.ROOT / "tests" / "languages" / "measure.yml"
EVALUATION = project.ROOT / "tests" / "evaluation"


def _lingua() -> Optional[Callable[[str], tuple[str, float]]]:
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return None
    codes = {"pl": Language.POLISH, "ro": Language.ROMANIAN, "pt": Language.PORTUGUESE,
             "es": Language.SPANISH, "cy": Language.WELSH, "en": Language.ENGLISH}
    names = {v: k for k, v in codes.items()}
    detector = LanguageDetectorBuilder.from_languages(*codes.values()).build()

    def identify(text: str) -> tuple[str, float]:
        best = detector.compute_language_confidence_values(text)[0]
        return names[best.language], best.value

    return identify


def measure(identify, own: dict, english: list[str]) -> str:
    hits = []
    for language, messages in own.items():
        want = "ur" if language == "ur-Latn" else language
        right = sum(languages.detect(str(m), identify) == want for m in messages)
        hits.append(f"{language} {right}/{len(messages)}")
    wrong = sum(languages.detect(m, identify) != "en" for m in english)
    times = []
    for text in english:
        started = time.perf_counter()
        languages.detect(text, identify)
        times.append(time.perf_counter() - started)
    return (f"{', '.join(hits)}; English blind turns taken for another language: "
            f"{wrong}/{len(english)}; p50 {statistics.median(times) * 1000:.3f} ms")


def main() -> int:
    own = yaml.safe_load(OWN_SET.read_text(encoding="utf-8"))
    english = [turn["user"] for half in ("dev.yml", "locked.yml")
               for case in yaml.safe_load((EVALUATION / half).read_text(encoding="utf-8"))
               for turn in case["turns"]]
    for name, identify in (("rules only", None), ("py3langid", languages.identifier()),
                           ("lingua", _lingua())):
        if name == "lingua" and identify is None:
            print("lingua: not installed")
            continue
        print(f"{name}: {measure(identify, own, english)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
