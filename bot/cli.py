"""Command line: ``python -m bot <command>`` (or the ``signpost`` script).

  check      check the staff content: service directory, FAQ, sources, responses
  preview    show a service, an FAQ answer or a response as a person would receive it
  train      train the model if its inputs changed (--force to always train)
  shell      chat with the bot in the terminal
  converse   answer JSON lines from stdin (--jsonl), for testers and tools
  telegram   serve Telegram (needs TELEGRAM_BOT_TOKEN; see docs/deploying.md)
  test-conversations  run testers' transcripts (tests/conversations/) and report
  run        the bot's main job: train if needed, then serve Telegram if
             TELEGRAM_BOT_TOKEN is set, or chat in the terminal if not

Commands that need a model train one first when it is missing or stale, so a
newcomer never has to remember a separate step. Benchmarks and evaluation are
not part of the product; they live in tools/ (``python -m tools.bench``,
``python -m tools.evaluate``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
from pathlib import Path

import bot  # noqa: F401  (sets environment defaults before Rasa is imported)
from bot import logs, project

logger = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Whatever any command creates (conversation stores and their -wal and -shm
    # files, keys, reports) is readable by this user only, whatever the umask was.
    os.umask(0o077)
    return guarded(lambda: args.handler(args), args.verbose)


def guarded(command, verbose: bool = False) -> int:
    """Run a command with logging set up: a clear line for people, never a bare traceback."""
    logs.configure(verbose)
    try:
        return command()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``make preview ID=... | head``): nothing is wrong,
        # and Python's own flush at exit must not print a traceback either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a clear line for people, the details for the log
        from bot.engine import EngineError
        from bot.training import TrainingError

        if isinstance(exc, (EngineError, TrainingError)):
            print(f"signpost: {exc}", file=sys.stderr)
        else:
            logger.exception("Unexpected failure")
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    check = commands.add_parser("check", help="check the service directory, FAQ and responses")
    check.add_argument("--root", type=Path, default=project.ROOT,
                       help="project folder to check (default: this one)")
    check.add_argument("--today", type=_date, metavar="YYYY-MM-DD",
                       help="judge last_verified dates as if today were this date "
                            "(to see what will go out of date)")
    check.set_defaults(handler=_check)

    preview = commands.add_parser("preview", help="show a service, an FAQ answer or a response "
                                                  "as a person would receive it (no model needed)")
    preview.add_argument("id", metavar="ID", help="a service id from data/services.yml (e.g. "
                                                  "nspcc_helpline), an FAQ id from data/faq.yml (e.g. "
                                                  "apologies) or a response from domain.yml (e.g. utter_worried)")
    preview.add_argument("--root", type=Path, default=project.ROOT,
                         help="project folder to read (default: this one)")
    preview.set_defaults(handler=_preview)

    train = commands.add_parser("train", help="train the model if its inputs changed")
    train.add_argument("--force", action="store_true", help="train even if nothing changed")
    train.add_argument("--root", type=Path, default=project.ROOT,
                       help="project folder to train (default: this one); the model goes in its models/")
    train.set_defaults(handler=_train)

    transcripts = commands.add_parser(
        "test-conversations", help="run testers' transcripts through the bot and report")
    transcripts.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                             help="transcript files or folders (default: tests/conversations/)")
    transcripts.add_argument("--junit", type=Path, metavar="PATH",
                             help="also write the results as JUnit XML to PATH, for CI")
    transcripts.add_argument("--model", type=Path, help="use this model instead of the current one")
    transcripts.set_defaults(handler=_test_conversations)

    for name, handler, help_text in [
        ("shell", _shell, "chat with the bot in the terminal"),
        ("converse", _converse, "answer JSON lines from stdin, one JSON line out each"),
        ("telegram", _telegram, "serve Telegram (needs TELEGRAM_BOT_TOKEN)"),
        ("run", _run, "train if needed, then serve Telegram if TELEGRAM_BOT_TOKEN is set, "
                      "else chat in the terminal"),
    ]:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--model", type=Path, help="use this model instead of the current one")
        sub.add_argument("--endpoints", type=Path, default=project.ENDPOINTS,
                         help="Rasa endpoints file (tracker and lock stores)")
        sub.set_defaults(handler=handler)
        if name == "converse":
            sub.add_argument("--jsonl", action="store_true", required=True,
                             help="read and write JSON lines (the only format)")
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date written as YYYY-MM-DD") from None


def _check(args: argparse.Namespace) -> int:
    from bot import content

    problems, warnings, services, faq = content.review(args.root, args.today)
    if warnings:
        print("Warnings (nothing is stopped yet, but please see to these soon):")
        for warning in warnings:
            print(f"  - {warning}")
    for problem in problems:
        print(f"  - {problem}")
    if problems:
        print(f"{len(problems)} problem(s) found. Nothing was changed; fix these and run the check again.")
        return 1
    print(f"Content OK: {len(services)} services, {len(faq)} FAQ answers.")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from bot import content
    from bot.preview import PreviewError, preview

    try:
        print(preview(args.id, args.root))
    except PreviewError as exc:
        print(f"signpost: {exc}", file=sys.stderr)
        return 1
    except content.ContentError as exc:
        print("The content has problems, so nothing can be previewed; fix these first "
              "(make faq-check lists them all):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


def _train(args: argparse.Namespace) -> int:
    from bot.training import ensure_model

    result = ensure_model(force=args.force, root=args.root)
    if result.trained:
        print(f"Trained {result.model} in {result.seconds:.1f} s")
    else:
        print(f"Model is up to date, training skipped: {result.model}")
    return 0


def _current_model(args: argparse.Namespace) -> Path:
    return current_model(args.model)


def current_model(model: Path | None = None) -> Path:
    """The model asked for, or the current one, trained first if it is missing or stale."""
    if model:
        return model
    from bot.training import ensure_model

    result = ensure_model()
    if result.trained:
        logger.info("Trained %s in %.1f s", result.model, result.seconds)
    return result.model


async def _load_engine(args: argparse.Namespace):
    from bot.engine import Engine

    return await Engine.load(_current_model(args), args.endpoints)


def _shell(args: argparse.Namespace) -> int:
    from bot.channels.shell import chat

    async def go() -> None:
        await chat(await _load_engine(args))

    asyncio.run(go())
    return 0


def _converse(args: argparse.Namespace) -> int:
    from bot.channels.converse import converse

    answers = sys.stdout
    answers.reconfigure(encoding="utf-8")  # JSON lines are UTF-8 whatever the locale
    # Rasa and its dependencies print progress with print(); keep stdout for answers only.
    sys.stdout = sys.stderr

    async def go() -> int:
        return await converse(await _load_engine(args), sys.stdin.buffer, answers)

    errors = asyncio.run(go())
    if errors:
        logger.info("%d line(s) could not be answered", errors)
    return 0


def _test_conversations(args: argparse.Namespace) -> int:
    from bot import transcripts

    return transcripts.main(args.paths, args.junit, lambda: _current_model(args))


def _telegram(args: argparse.Namespace) -> int:
    from bot.channels.telegram import app as telegram_bot

    try:
        settings = telegram_bot.Settings.from_env()
        telegram_bot.run(settings, _current_model(args), args.endpoints)
    except telegram_bot.SettingsError as exc:
        print(f"signpost: {exc}", file=sys.stderr)
        return 2
    except telegram_bot.Fatal as exc:
        print(f"signpost: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    if os.environ.get("TELEGRAM_BOT_TOKEN"):
        return _telegram(args)
    return _shell(args)
