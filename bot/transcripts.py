"""Testers' transcripts: conversation files run through the real bot, reported in plain words.

Testers write what a person would type and what they must then read (the
format is bot.conversations'). ``python -m bot test-conversations`` runs the
files through the real engine and model and reports twice: for people (each
conversation passed or failed and, for a failure, the turn, the expectation
and what the bot said) and, with ``--junit``, as JUnit XML for CI. A file
that cannot be read is reported by name like a failure, never as a traceback,
and the other files still run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from bot import conversations, project

FOLDER = project.ROOT / "tests" / "conversations"
SUFFIXES = (".yml", ".yaml")


@dataclass
class FileResult:
    """One file's conversations, or why the file could not be read."""

    path: Path
    cases: list[conversations.Case] = field(default_factory=list)
    results: list[conversations.CaseResult] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> list[conversations.CaseResult]:
        return [r for r in self.results if not r.passed]


def find(paths: Iterable[Path]) -> list[Path]:
    """The transcript files named, folders expanded to the YAML files in them.

    Raises FileNotFoundError, with a message for people, for a path that does
    not exist or a folder with no transcripts.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise FileNotFoundError(f"{shown(path)}: no transcripts (*.yml) in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{shown(path)}: no such file or folder")
    return files


def load(files: Iterable[Path]) -> list[FileResult]:
    """Each file's conversations; a file with a mistake carries the message instead."""
    loaded = []
    for path in files:
        try:
            loaded.append(FileResult(path, cases=conversations.load(path)))
        except conversations.CaseFileError as exc:
            loaded.append(FileResult(path, error=str(exc)))
    return loaded


async def run(engine: Any, loaded: list[FileResult]) -> list[FileResult]:
    """Play every readable conversation, each as a fresh conversation with the bot."""
    for file in loaded:
        file.results = [await conversations.run(engine, case) for case in file.cases]
    return loaded


def ok(files: list[FileResult]) -> bool:
    return all(f.error is None and not f.failed for f in files)


# --- the report for people ---------------------------------------------------------


def report(files: list[FileResult], only_failures: bool = False) -> str:
    """Every file and conversation with PASSED or FAILED, failures explained, then totals."""
    lines: list[str] = []
    for file in files:
        if only_failures and file.error is None and not file.failed:
            continue
        lines.append(shown(file.path))
        if file.error is not None:
            lines += ["  COULD NOT READ THIS FILE (none of its conversations ran)",
                      *_indented(_without_path(file.error, file.path), "    ")]
        for result in file.results:
            if result.passed and not only_failures:
                lines.append(f"  passed   {result.case.id}")
            elif not result.passed:
                lines.append(f"  FAILED   {result.case.id}")
                lines += failure_details(result, "      ")
        lines.append("")
    lines.append(summary(files))
    return "\n".join(lines)


def failure_details(result: conversations.CaseResult, indent: str = "") -> list[str]:
    """For each failed turn: what was typed, what was expected, what the bot said."""
    lines = []
    for number, turn in enumerate(result.turns, 1):
        if not turn.failures:
            continue
        typed = " ".join(turn.turn.user.split())
        lines.append(f'{indent}Turn {number}: the person typed "{typed}"')
        lines += [f"{indent}  Expected: {failure}" for failure in turn.failures]
        if not turn.sent:
            lines.append(f"{indent}  The bot said nothing.")
        for count, reply in enumerate(turn.sent, 1):
            lines.append(f"{indent}  The bot's reply {count} of {len(turn.sent)}:")
            lines += _indented(reply.text, f"{indent}    | ")
            lines += [f"{indent}    [button: {button.title}]" for button in reply.buttons]
    return lines


def summary(files: list[FileResult]) -> str:
    results = [r for f in files for r in f.results]
    passed = sum(r.passed for r in results)
    unread = sum(f.error is not None for f in files)
    text = (f"{passed} of {len(results)} conversations passed, {len(results) - passed} failed"
            f" ({len(files)} file{'s' if len(files) != 1 else ''})")
    if unread:
        text += f"; {unread} file{'s' if unread != 1 else ''} could not be read"
    return text + "."


def _indented(text: str, prefix: str) -> list[str]:
    return [(prefix + line).rstrip() for line in text.splitlines()]


def _without_path(message: str, path: Path) -> str:
    """The loader's message already names the file; the report's heading does too."""
    return message.removeprefix(f"{path}, ").removeprefix(f"{path}: ")


def shown(path: Path) -> str:
    """A path as a tester would type it: relative to where they are, if inside it."""
    relative = os.path.relpath(Path(path).resolve(), Path.cwd())
    return str(path) if relative.startswith("..") else relative


# --- JUnit XML for CI ----------------------------------------------------------------


def junit(files: list[FileResult]) -> str:
    """The results as JUnit XML: one test suite per file, one test case per conversation."""
    root = ET.Element("testsuites", name="conversations")
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for file in files:
        suite = ET.SubElement(root, "testsuite", name=shown(file.path))
        counts = {"tests": len(file.results), "failures": len(file.failed), "errors": 0,
                  "time": sum(r.seconds for r in file.results)}
        if file.error is not None:
            case = ET.SubElement(suite, "testcase", name="(reading the file)",
                                 classname=_class_name(file.path), time="0")
            ET.SubElement(case, "error", message=file.error).text = file.error
            counts["tests"] += 1
            counts["errors"] += 1
        for result in file.results:
            case = ET.SubElement(suite, "testcase", name=result.case.id,
                                 classname=_class_name(file.path), time=f"{result.seconds:.3f}")
            if not result.passed:
                first = next(t for t in result.turns if t.failures)
                number = result.turns.index(first) + 1
                ET.SubElement(case, "failure", message=f"turn {number}: {first.failures[0]}").text = \
                    "\n".join(failure_details(result))
        for key, value in counts.items():
            suite.set(key, f"{value:.3f}" if key == "time" else str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _class_name(path: Path) -> str:
    return f"conversations.{Path(path).stem}"


# --- the command ---------------------------------------------------------------------


def main(paths: list[Path], junit_path: Path | None, model: Callable[[], Path]) -> int:
    """Run, print the report, write JUnit if asked; 0 when every conversation passed.

    ``model`` is only called when there is something to run, so a file with
    a mistake is reported at once, without loading (or training) a model.
    """
    try:
        files = load(find(paths or [FOLDER]))
    except FileNotFoundError as exc:
        print(f"signpost: {exc}", file=sys.stderr)
        return 2

    async def play() -> None:
        from bot.engine import Engine  # Rasa loads slowly; only when there is something to run

        with tempfile.TemporaryDirectory() as folder:
            endpoints = Path(folder) / "endpoints.yml"
            # No tracker_store: Rasa keeps these throwaway conversations in memory.
            endpoints.write_text("lock_store:\n  type: in_memory\n")
            await run(await Engine.load(model(), endpoints), files)

    if any(f.cases for f in files):
        asyncio.run(play())
    print(report(files))
    if junit_path:
        junit_path.parent.mkdir(parents=True, exist_ok=True)
        junit_path.write_text(junit(files), encoding="utf-8")
        print(f"JUnit XML written to {shown(junit_path)}")
    return 0 if ok(files) else 1
